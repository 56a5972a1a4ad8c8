"""The request batcher in-process: many threads, one model call per batch."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import pytest

from aidot.errors import ModelExecutionError, QueueFullError, RequestTimeoutError
from aidot.serving import RequestBatcher, batch


def test_the_decorator_batches_calls_from_many_threads() -> None:
    sizes: list[int] = []

    @batch(max_batch_size=16, max_delay_ms=5)
    def double(rows: Any) -> Any:
        sizes.append(len(rows))
        return rows * 2

    with ThreadPoolExecutor(16) as pool:
        results = list(pool.map(lambda i: double(np.array([i, -i], dtype=np.float64)), range(400)))
    for i, result in enumerate(results):
        np.testing.assert_array_equal(result, [2 * i, -2 * i])
    assert sum(sizes) == 400
    assert max(sizes) > 1
    metrics = double.metrics()
    assert metrics.rows_total == 400
    assert metrics.batches_total == len(sizes)
    assert double.__name__ == "double"
    double.close()


def test_strings_travel_as_bytes_elements() -> None:
    upper = RequestBatcher(lambda rows: np.array([r.upper() for r in rows], dtype=object))
    assert upper(np.array(b"abc", dtype=object)) == b"ABC"


def test_errors_are_raised_in_the_callers_thread() -> None:
    def fail(rows: Any) -> Any:
        raise KeyError("nope")

    with pytest.raises(ModelExecutionError, match="KeyError"):
        RequestBatcher(fail)(np.zeros(3))

    gate = threading.Event()

    def slow(rows: Any) -> Any:
        gate.wait(10)
        return rows

    batcher = RequestBatcher(slow, queue_capacity=1, max_batch_size=1, dtype="float64")
    with ThreadPoolExecutor(2) as pool:
        running = pool.submit(batcher, np.zeros(2))
        while batcher.queue_depth != 0 or not running.running():
            threading.Event().wait(0.01)
        threading.Event().wait(0.05)
        waiting = pool.submit(batcher, np.zeros(2), timeout_ms=1)
        while batcher.queue_depth < 1:
            threading.Event().wait(0.01)
        with pytest.raises(QueueFullError):
            batcher(np.zeros(2))
        threading.Event().wait(0.05)  # well past the waiting row's 1 ms timeout
        gate.set()
        running.result(10)
        with pytest.raises(RequestTimeoutError):
            waiting.result(10)


def test_rows_are_cast_to_the_batcher_type_when_safe() -> None:
    seen: list[str] = []

    def record(rows: Any) -> Any:
        seen.append(rows.dtype.str)
        return rows

    batcher = RequestBatcher(record, dtype="float32")
    np.testing.assert_array_equal(batcher(np.array([1.5, 2.5])), [1.5, 2.5])
    assert seen == ["<f4"]
    with pytest.raises(Exception, match="runs float32 rows"):
        batcher(np.array(["x"]))


@pytest.mark.parametrize(
    ("model", "expected"),
    [
        (lambda rows: rows.T.copy().T, lambda row: row),  # Fortran order
        (lambda rows: rows[:, ::-1], lambda row: row[::-1]),  # a strided view
        (lambda rows: rows.astype(">f8"), lambda row: row.astype("<f8")),  # big-endian
        (lambda rows: rows.tolist(), lambda row: row.astype(np.float64)),  # not an array
        (lambda rows: (rows > 1).astype(bool), lambda row: row > 1),  # one-byte type
    ],
)
def test_outputs_of_any_layout_and_byte_order_come_back_row_by_row(
    model: Any, expected: Any
) -> None:
    batcher = RequestBatcher(model, max_batch_size=8, max_delay_ms=2)
    rows = [np.array([i, i + 1, i + 2], dtype=np.float32) for i in range(8)]
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(batcher, rows))
    for row, result in zip(rows, results, strict=True):
        want = expected(row)
        assert result.dtype == want.dtype.newbyteorder("=")
        np.testing.assert_array_equal(result, want)
    batcher.close()


def test_a_model_may_change_its_batch_in_place() -> None:
    def negate(rows: Any) -> Any:
        rows *= -1  # the batch is writable
        return rows

    batcher = RequestBatcher(negate)
    np.testing.assert_array_equal(batcher(np.array([1.0, 2.0])), [-1.0, -2.0])
    batcher.close()
