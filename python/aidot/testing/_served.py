"""A model served on loopback by the Rust server, for a test."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from aidot._lifecycle import StopsOnExit

if TYPE_CHECKING:
    from aidot.serving import ModelRepository, Server
    from aidot.workspace import Workspace


@dataclass
class ServedModel(StopsOnExit):
    """A running server with one model: ``url``, the model's ``name``, its ``predict_url``,
    the :class:`~aidot.serving.Server` and its :class:`~aidot.serving.ModelRepository`."""

    name: str
    server: Server
    repository: ModelRepository
    owns_repository: bool = True
    """False when the repository is a workspace's, which outlives this server."""

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def predict_url(self) -> str:
        """Where one JSON request (``{"features": [[...]]}``) is answered."""
        return f"{self.server.url}/api/inference/predict/{self.name}"

    def stop(self) -> None:
        """Stops the server (in-flight requests finish) and unloads the model."""
        self.server.stop()
        if self.owns_repository:
            self.repository.close()
        else:
            self.repository.unload(self.name)


def serve_model(
    model: Any,
    *,
    name: str = "model",
    signature: Mapping[str, Any] | None = None,
    workspace: Workspace | None = None,
    **batching: Any,
) -> ServedModel:
    """Serves ``model`` (an object with ``predict(batch)``, or a ``models:/`` URI read from
    ``workspace``'s registry) under ``name`` on loopback, on a free port. ``batching`` goes
    to :meth:`~aidot.serving.ModelRepository.load` (``max_batch_size``, ``max_delay_ms``...)."""
    from aidot.serving import ModelRepository, serve

    repository = workspace.repository if workspace is not None else ModelRepository()
    options: dict[str, Any] = dict(batching)
    if signature is not None:
        options["signature"] = dict(signature)
    repository.load(name, model, **options)
    try:
        server = serve(repository, host="127.0.0.1", port=0)
    except BaseException:
        repository.unload(name)
        raise
    return ServedModel(name, server, repository, owns_repository=workspace is None)
