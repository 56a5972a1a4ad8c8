"""The HTTP inference server, started from Python: ``aidot.serve(repository)``."""

from __future__ import annotations

import os
from typing import Any

from aidot import _core
from aidot._lifecycle import StopsOnExit
from aidot.serving._metrics import PerformanceMetrics
from aidot.serving._repository import ModelRepository

DEFAULT_MAX_BODY_BYTES = 32 * 1024 * 1024


class Server(StopsOnExit):
    """A running inference server (Rust, axum on its own tokio threads).

    It answers the AiDotNet.Serving routes (``POST /api/inference/predict/{model}``,
    ``/api/models``), the Open Inference Protocol v2 (``/v2/...``, as KServe and Triton
    clients speak it, JSON or binary tensors), ``GET /metrics`` (Prometheus), ``GET /healthz``
    and ``GET /openapi.json``. Starting returns at once; the calling program keeps running.
    ``stop()`` (or leaving a ``with`` block) lets in-flight requests finish.
    """

    def __init__(
        self,
        repository: ModelRepository,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        token: str | None = None,
        overload_status: int = 503,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
        threads: int = 0,
        reuse_port: bool = False,
        header_read_timeout: float = 10.0,
        body_read_timeout: float = 30.0,
        drain_timeout: float = 30.0,
    ) -> None:
        self.repository = repository
        self._inner = _core.Server(
            repository._table,
            repository,
            host=host,
            port=port,
            reuse_port=reuse_port,
            max_body_bytes=max_body_bytes,
            token=token if token is not None else os.environ.get("AIDOT_SERVE_TOKEN") or None,
            overload_status=overload_status,
            threads=threads,
            header_read_timeout_s=header_read_timeout,
            body_read_timeout_s=body_read_timeout,
            drain_timeout_s=drain_timeout,
        )

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"Server({self.url}, {state}, models={self.repository.names()})"

    @property
    def host(self) -> str:
        return self._inner.host

    @property
    def port(self) -> int:
        """The bound port (the one picked when ``port=0``)."""
        return self._inner.port

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def running(self) -> bool:
        return self._inner.running

    def stop(self) -> None:
        """Stops accepting connections and waits for in-flight requests to finish."""
        self._inner.stop()

    def metrics(self) -> dict[str, PerformanceMetrics]:
        """Each served model's metrics now, by name."""
        return {name: self.repository.metrics(name) for name in self.repository.names()}

    def prometheus(self) -> str:
        """The text ``GET /metrics`` answers."""
        return self._inner.prometheus()


def serve(
    models: ModelRepository | Any,
    host: str = "127.0.0.1",
    port: int = 0,
    **options: Any,
) -> Server:
    """Starts an inference server for a repository (or a single model object, served under its
    name) and returns at once; see :class:`Server` for the options."""
    if not isinstance(models, ModelRepository):
        repository = ModelRepository()
        repository.load(str(getattr(models, "name", "model")), models)
        models = repository
    return Server(models, host, port, **options)
