"""ModelRepository: the models held in memory for serving, fed from the registry."""

from __future__ import annotations

import builtins
import json
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from aidot import _core
from aidot._lifecycle import ClosesOnExit
from aidot.errors import (
    AidotError,
    InvalidArgumentError,
    ModelExecutionError,
    NotFoundError,
)
from aidot.serving._convert import batch_caller
from aidot.serving._metrics import PerformanceMetrics

if TYPE_CHECKING:
    from aidot.registry import ModelRegistry, ServableModel


@dataclass(frozen=True)
class BatchingSettings:
    """How a model's requests are batched (see :class:`aidot.serving.RequestBatcher`)."""

    max_batch_size: int = 64
    max_delay_ms: float = 0.0
    queue_capacity: int = 4096
    preferred_batch_sizes: tuple[int, ...] = ()
    timeout_ms: float | None = None
    latency_target_ms: float | None = None


@dataclass(frozen=True)
class ModelInfo:
    """A served model: where it came from, its tensors and its batching."""

    name: str
    version: str
    format: str
    source: str | None
    inputs: list[dict[str, Any]]
    outputs: list[dict[str, Any]]
    loaded_at: datetime
    batching: BatchingSettings
    current_batch_limit: int
    queue_depth: int
    follow: str | None = None

    @property
    def input_dims(self) -> list[int]:
        """The input's shape per row (``-1``: any size)."""
        return list(self.inputs[0]["shape"][1:]) if self.inputs else []

    @property
    def output_dims(self) -> list[int]:
        return list(self.outputs[0]["shape"][1:]) if self.outputs else []


@dataclass
class _Entry:
    model: Any
    settings: BatchingSettings
    follow: str | None


class ModelRepository(ClosesOnExit):
    """Models loaded in memory and served by name, each behind its own Rust request batcher.

    ``load`` takes a ``models:/`` URI (resolved in ``registry``, or the default workspace's)
    or a loaded model (a :class:`~aidot.registry.ServableModel`, or any object with
    ``predict`` plus a ``signature``). Loading under a name already served is a hot swap: the
    new model is loaded and warmed up first, then replaces the old one atomically; requests
    already queued finish on the old one. ``follow="Production"`` keeps a name on whatever
    version holds that stage (or alias), checking every ``poll_interval`` seconds.
    """

    def __init__(
        self, registry: ModelRegistry | None = None, *, poll_interval: float = 5.0
    ) -> None:
        self._registry = registry
        self._table = _core.ModelTable()
        self._entries: dict[str, _Entry] = {}
        self._lock = threading.RLock()
        self._poll_interval = poll_interval
        self._poller: threading.Thread | None = None
        self._closed = threading.Event()

    def __repr__(self) -> str:
        return f"ModelRepository({self.names()})"

    @property
    def registry(self) -> ModelRegistry:
        """The registry ``models:/`` URIs resolve in (the default workspace's if none given)."""
        if self._registry is None:
            from aidot.workspace import default_workspace

            self._registry = default_workspace().registry
        return self._registry

    def load(
        self,
        name: str,
        model: str | ServableModel | Any,
        *,
        max_batch_size: int = 64,
        max_delay_ms: float = 0.0,
        queue_capacity: int = 4096,
        preferred_batch_sizes: Sequence[int] = (),
        timeout_ms: float | None = None,
        latency_target_ms: float | None = None,
        follow: str | None = None,
        signature: dict[str, Any] | None = None,
        trust: bool = False,
        warmup: bool = True,
    ) -> ModelInfo:
        """Serves ``model`` as ``name`` and returns what is now served.

        ``max_delay_ms`` (default 0) is how long a batch may wait for more rows; with 0 a lone
        request never waits and batches form from rows that queue while the model is busy.
        ``preferred_batch_sizes`` cuts batches to sizes the model runs best at;
        ``latency_target_ms`` turns on adaptive batch sizes (additive increase, multiplicative
        decrease). ``follow`` (a stage or alias) needs a URI. ``signature`` describes a plain
        object's input and output (``{"inputs": [{"name", "dtype", "shape"}], ...}``);
        ``trust`` lets pickled models load.
        """
        settings = BatchingSettings(
            max_batch_size=max_batch_size,
            max_delay_ms=max_delay_ms,
            queue_capacity=queue_capacity,
            preferred_batch_sizes=tuple(preferred_batch_sizes),
            timeout_ms=timeout_ms,
            latency_target_ms=latency_target_ms,
        )
        servable, version, source = self._resolve(name, model, follow, trust)
        sig = signature or getattr(servable, "signature", None)
        if not sig or not sig.get("inputs"):
            raise InvalidArgumentError(
                f"model {name!r} has no signature, so its input type and shape are unknown; "
                "register it with input_example=..., or pass signature={'inputs': [{'name': "
                "'input', 'dtype': '<f4', 'shape': [-1, 32]}]}"
            )
        if warmup:
            _warm_up(name, servable, sig["inputs"][0])
        with self._lock:
            self._table.load(
                name,
                batch_caller(servable.predict),
                version=version,
                platform=str(getattr(servable, "format", "python")),
                source=source,
                inputs=[_spec(s) for s in sig["inputs"]],
                outputs=[_spec(s) for s in sig.get("outputs", [])],
                max_batch_size=settings.max_batch_size,
                max_delay_ms=settings.max_delay_ms,
                queue_capacity=settings.queue_capacity,
                preferred_batch_sizes=list(settings.preferred_batch_sizes),
                timeout_ms=settings.timeout_ms,
                latency_target_ms=settings.latency_target_ms,
                loaded_at_ms=int(time.time() * 1000),
            )
            self._entries[name] = _Entry(servable, settings, _follow_target(model, follow))
            if follow:
                self._start_poller()
        return self.info(name)

    def _resolve(
        self, name: str, model: Any, follow: str | None, trust: bool
    ) -> tuple[Any, str, str | None]:
        """The servable object, its version and its source URI."""
        if isinstance(model, str):
            from aidot.registry._uri import parse

            ref = parse(model)
            uri = f"models:/{ref.name}@{follow}" if follow else model
            servable = self.registry.load_model(uri, trust=trust)  # resolves the URI once
            return servable, str(servable.version), f"models:/{servable.name}/{servable.version}"
        if follow:
            raise InvalidArgumentError(
                f"follow={follow!r} needs a models:/ URI to follow, not a model object"
            )
        if not callable(getattr(model, "predict", None)):
            raise InvalidArgumentError(
                f"cannot serve {type(model).__name__} as {name!r}: pass a models:/ URI, a "
                "ServableModel, or an object with a predict(batch) method"
            )
        return model, str(getattr(model, "version", 1)), None

    def unload(self, name: str) -> None:
        """Stops serving ``name``; requests already queued still finish."""
        with self._lock:
            if not self._table.unload(name):
                raise NotFoundError(f"no model named {name!r} is loaded; loaded: {self.names()}")
            self._entries.pop(name, None)

    def names(self) -> list[str]:
        """Names of the served models, sorted."""
        return list(self._table.names())

    def list(self) -> builtins.list[ModelInfo]:
        """Every served model."""
        return [self.info(name) for name in self.names()]

    def info(self, name: str) -> ModelInfo:
        """What is served as ``name``: version, format, signature, load time, batching."""
        text = self._table.describe(name)
        if text is None:
            raise NotFoundError(f"no model named {name!r} is loaded; loaded: {self.names()}")
        data = json.loads(text)
        batching = data["batching"]
        entry = self._entries.get(name)
        return ModelInfo(
            name=data["name"],
            version=data["version"],
            format=data["format"],
            source=data["source"],
            inputs=data["inputs"],
            outputs=data["outputs"],
            loaded_at=datetime.fromtimestamp(data["loadedAtMs"] / 1000, timezone.utc),
            batching=BatchingSettings(
                max_batch_size=batching["maxBatchSize"],
                max_delay_ms=batching["maxDelayMs"],
                queue_capacity=batching["queueCapacity"],
                preferred_batch_sizes=tuple(batching["preferredBatchSizes"]),
                timeout_ms=batching["timeoutMs"],
                latency_target_ms=batching["latencyTargetMs"],
            ),
            current_batch_limit=batching["currentBatchLimit"],
            queue_depth=data["queueDepth"],
            follow=entry.follow if entry else None,
        )

    def get(self, name: str) -> Any:
        """The model object served as ``name`` (to call it directly, say)."""
        entry = self._entries.get(name)
        if entry is None:
            raise NotFoundError(f"no model named {name!r} is loaded; loaded: {self.names()}")
        return entry.model

    def metrics(self, name: str) -> PerformanceMetrics:
        """The model's performance metrics now."""
        text = self._table.metrics(name)
        if text is None:
            raise NotFoundError(f"no model named {name!r} is loaded; loaded: {self.names()}")
        return PerformanceMetrics.from_json(text)

    def close(self) -> None:
        """Stops following the registry and unloads every model."""
        self._closed.set()
        for name in self.names():
            self._table.unload(name)
        self._entries.clear()

    # -- following the registry ------------------------------------------------------------

    def _start_poller(self) -> None:
        if self._poller is None or not self._poller.is_alive():
            self._poller = threading.Thread(
                target=self._poll, name="aidot-repository-follow", daemon=True
            )
            self._poller.start()

    def _poll(self) -> None:
        while not self._closed.wait(self._poll_interval):
            self.refresh()

    def refresh(self) -> builtins.list[str]:
        """Swaps every followed name whose stage or alias has moved to another version now
        (the poller calls this); returns the names swapped."""
        swapped = []
        for name, entry in list(self._entries.items()):
            if entry.follow is None:
                continue
            try:
                current = self.registry.resolve(entry.follow)
            except NotFoundError:
                continue  # the stage is empty for now: keep serving what is loaded
            served = self._table.describe(name)
            if served is None or json.loads(served)["version"] == str(current.version):
                continue
            label = entry.follow.rsplit("@", 1)[1]
            settings = entry.settings
            try:
                self.load(
                    name,
                    entry.follow,  # the stage or alias, resolved again by load
                    follow=label,
                    max_batch_size=settings.max_batch_size,
                    max_delay_ms=settings.max_delay_ms,
                    queue_capacity=settings.queue_capacity,
                    preferred_batch_sizes=settings.preferred_batch_sizes,
                    timeout_ms=settings.timeout_ms,
                    latency_target_ms=settings.latency_target_ms,
                )
            except AidotError:
                continue  # a version that fails to load or warm up leaves the old one serving
            swapped.append(name)
        return swapped

    # -- the HTTP management routes call these (from a Rust blocking thread) -----------------

    def _http_load(self, name: str, uri: str) -> tuple[str, str] | None:
        try:
            self.load(name, uri)
        except NotFoundError as exc:
            return "not_found", str(exc)
        except InvalidArgumentError as exc:
            return "invalid", str(exc)
        except Exception as exc:
            return "failed", f"{type(exc).__name__}: {exc}"
        return None

    def _http_unload(self, name: str) -> tuple[str, str] | None:
        try:
            self.unload(name)
        except NotFoundError as exc:
            return "not_found", str(exc)
        return None


def _follow_target(model: Any, follow: str | None) -> str | None:
    """The URI a followed name tracks: ``models:/NAME@STAGE_OR_ALIAS``."""
    if not follow or not isinstance(model, str):
        return None
    from aidot.registry._uri import parse

    return f"models:/{parse(model).name}@{follow}"


def _spec(spec: dict[str, Any]) -> tuple[str, str, list[int]]:
    import numpy as np

    return str(spec["name"]), np.dtype(spec["dtype"]).str, [int(d) for d in spec["shape"]]


def _warm_up(name: str, model: Any, spec: dict[str, Any]) -> None:
    """One prediction on a zero row before the model takes traffic, so the first request does
    not pay for lazy initialisation, and a model that cannot run is refused while the old
    version keeps serving."""
    import numpy as np

    shape = [1 if d == -1 else int(d) for d in spec["shape"]]
    if shape:
        shape[0] = 1
    dtype = np.dtype(spec["dtype"])
    row = np.zeros(shape, dtype=dtype) if dtype.kind not in "OUS" else np.full(shape, "", object)
    try:
        output = np.asarray(model.predict(row))
    except Exception as exc:
        raise ModelExecutionError(
            f"model {name!r} failed its warm-up prediction on a zero row of shape {shape}: "
            f"{type(exc).__name__}: {exc}; it was not loaded"
        ) from exc
    if output.ndim == 0 or output.shape[0] != 1:
        raise ModelExecutionError(
            f"model {name!r} returned shape {list(output.shape)} for one row; serving needs "
            "one output row per input row"
        )
