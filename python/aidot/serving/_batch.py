"""The request batcher in-process: many threads call a function per item, the function runs
once per batch."""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from aidot import _core
from aidot.errors import InvalidArgumentError
from aidot.serving._convert import batch_caller, from_array, to_array
from aidot.serving._metrics import PerformanceMetrics

F = TypeVar("F", bound=Callable[..., Any])

_PRIORITIES = {"high": 0, "normal": 1, "low": 2}


class RequestBatcher:
    """Runs ``predict(batch)`` on rows submitted one at a time from any number of threads.

    Rows wait in a bounded lock-free queue (Rust); one dispatcher thread takes what is waiting
    whenever ``predict`` is free, up to ``max_batch_size`` (waiting up to ``max_delay_ms`` for
    more, 0 by default), stacks the rows into one contiguous NumPy array, calls ``predict``
    once with the GIL taken once, and hands each caller its row of the result. A full queue
    raises :class:`~aidot.errors.QueueFullError`; an exception in ``predict`` fails that
    batch's calls with :class:`~aidot.errors.ModelExecutionError`.

    The element type is fixed by the first row (or ``dtype``); later rows are cast to it when
    NumPy can do so safely.
    """

    def __init__(
        self,
        predict: Callable[[Any], Any],
        *,
        max_batch_size: int = 32,
        max_delay_ms: float = 0.0,
        queue_capacity: int = 4096,
        preferred_batch_sizes: Sequence[int] = (),
        timeout_ms: float | None = None,
        latency_target_ms: float | None = None,
        dtype: Any = None,
        name: str | None = None,
    ) -> None:
        self._predict = predict
        self._options: dict[str, Any] = {
            "max_batch_size": max_batch_size,
            "max_delay_ms": max_delay_ms,
            "queue_capacity": queue_capacity,
            "preferred_batch_sizes": list(preferred_batch_sizes),
            "timeout_ms": timeout_ms,
            "latency_target_ms": latency_target_ms,
        }
        self._name = str(name or getattr(predict, "__name__", "batch"))
        self._lock = threading.Lock()
        self._inner: Any = None
        self._dtype: Any = None
        if dtype is not None:
            self._start(dtype)

    def _start(self, dtype: Any) -> Any:
        import numpy as np

        with self._lock:
            if self._inner is None:
                self._dtype = np.dtype(dtype)
                numpy_dtype = "|O" if self._dtype.kind in "OUS" else self._dtype.str
                self._inner = _core.RequestBatcher(
                    self._name, batch_caller(self._predict), numpy_dtype, **self._options
                )
            return self._inner

    def __call__(
        self, row: Any, *, priority: str = "normal", timeout_ms: float | None = None
    ) -> Any:
        """``predict``'s output for one row (blocks until its batch has run)."""
        import numpy as np

        array = np.asarray(row)
        inner = self._inner or self._start(array.dtype)
        if self._dtype.kind not in "OUS" and array.dtype != self._dtype:
            if not np.can_cast(array.dtype, self._dtype, "same_kind"):
                raise InvalidArgumentError(
                    f"this batcher runs {self._dtype} rows; got {array.dtype}. Convert the row "
                    "first, or create the batcher with dtype="
                )
            array = array.astype(self._dtype)
        if priority not in _PRIORITIES:
            raise InvalidArgumentError(f"priority {priority!r} is not one of {sorted(_PRIORITIES)}")
        _dtype, shape, data = from_array(array)
        out_dtype, out_shape, out = inner.submit(
            data, list(shape), _PRIORITIES[priority], timeout_ms
        )
        return to_array(out, out_dtype, tuple(out_shape))

    @property
    def queue_depth(self) -> int:
        return 0 if self._inner is None else int(self._inner.queue_depth)

    def metrics(self) -> PerformanceMetrics:
        """Latency, batch sizes and errors of this batcher so far."""
        inner = self._inner or self._start("float64")
        return PerformanceMetrics.from_json(inner.metrics())

    def close(self) -> None:
        """Refuses new rows; queued ones still run."""
        if self._inner is not None:
            self._inner.close()


def batch(
    max_batch_size: int = 32,
    max_delay_ms: float = 2.0,
    **options: Any,
) -> Callable[[Callable[[Any], Any]], RequestBatcher]:
    """Turns a function on a batch into one called per item from many threads::

    @aidot.serving.batch(max_batch_size=32, max_delay_ms=2)
    def embed(batch):  # batch: a NumPy array of rows
        return model(batch)

    vector = embed(row)  # from any thread; rows of concurrent calls share a batch
    """

    def wrap(function: Callable[[Any], Any]) -> RequestBatcher:
        batcher = RequestBatcher(
            function, max_batch_size=max_batch_size, max_delay_ms=max_delay_ms, **options
        )
        functools.update_wrapper(batcher, function)
        return batcher

    return wrap
