"""The background writer: ``log_metric`` appends to a queue; a thread batches into the store.

A logging call costs a ``deque.append`` (thread-safe without a lock). The writer thread wakes
every ``interval`` seconds, or at once on :meth:`MetricWriter.flush`, drains the queue, groups
the points by series and appends them as compressed chunks (see ``_series.py``). A ``kill -9``
loses at most the last interval; :meth:`flush`, the end of a run and interpreter exit lose
nothing.
"""

from __future__ import annotations

import atexit
import threading
import weakref
from collections import deque
from collections.abc import Callable
from operator import itemgetter
from typing import TYPE_CHECKING, Any, cast

import numpy as np

from aidot.errors import StorageError
from aidot.store._schema import metric_chunks, metric_series
from aidot.tracking._series import (
    CHUNK_POINTS,
    F64,
    I64,
    Downsample,
    decode_chunk,
    encode_chunk,
)

if TYPE_CHECKING:
    import sqlalchemy as sa

    from aidot.store import MetadataStore

Point = tuple[str, str, float, int, int]
"""``(run_id, key, value, step, timestamp_ms)``."""

DEFAULT_INTERVAL_S = 1.0

_live_writers: weakref.WeakSet[MetricWriter] = weakref.WeakSet()


@atexit.register
def _flush_all_at_exit() -> None:
    for writer in list(_live_writers):
        writer.close()


class MetricWriter:
    """Batches metric points into the metadata store from a background thread.

    With ``synchronous=True`` every :meth:`add` writes before it returns (for tests and
    debugging).
    """

    def __init__(
        self,
        store: MetadataStore,
        *,
        interval: float = DEFAULT_INTERVAL_S,
        synchronous: bool = False,
    ) -> None:
        self._store = store
        self._interval = interval
        self._synchronous = synchronous
        self._queue: deque[Point | threading.Event] = deque()
        self._wake = threading.Event()
        self._closed = False
        self._error: BaseException | None = None
        self._write_lock = threading.Lock()
        self._thread: threading.Thread | None = None
        if not synchronous:
            self._thread = threading.Thread(target=self._loop, name="aidot-metrics", daemon=True)
            self._thread.start()
        _live_writers.add(self)

    def add(self, point: Point) -> None:
        """Queues one point (or writes it now in synchronous mode)."""
        if self._synchronous:
            self._write([point])
        else:
            self._queue.append(point)

    def add_function(self) -> Callable[[Point], None]:
        """The cheapest callable that adds a point: the queue's own ``append`` when
        asynchronous (saves a Python call per point in the training loop)."""
        return self.add if self._synchronous else self._queue.append

    def flush(self) -> None:
        """Returns once every point added before the call is in the store."""
        if self._synchronous or self._thread is None:
            return
        done = threading.Event()
        self._queue.append(done)
        self._wake.set()
        while not done.wait(0.1):
            if not self._thread.is_alive():
                raise StorageError("the aidot metric writer stopped") from self._error
        if self._error is not None:
            raise StorageError(
                f"metric points could not be written yet ({self._error}); they stay queued "
                "and are retried every interval"
            ) from self._error

    def close(self) -> None:
        """Flushes and stops the thread; the writer cannot be used afterwards."""
        if self._closed:
            return
        self.flush()
        self._closed = True
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=30)

    def _loop(self) -> None:
        while not self._closed:
            self._wake.wait(self._interval)
            self._wake.clear()
            self._drain()

    def _drain(self) -> None:
        queue = self._queue
        popleft = queue.popleft
        # Take only what is queued now (producers keep appending behind it), in one pass:
        # at a million points a second, a per-item Python loop here was most of the cost.
        items = [popleft() for _ in range(len(queue))]
        waiters = [x for x in items if isinstance(x, threading.Event)]
        points = cast(
            "list[Point]", [x for x in items if x.__class__ is tuple] if waiters else items
        )
        try:
            if points:
                self._write(points)
            self._error = None
        except Exception as exc:  # keep the thread alive: the next drain retries nothing lost
            self._error = exc
            # Put the points back in front so the next interval writes them.
            queue.extendleft(reversed(points))
        finally:
            for waiter in waiters:
                waiter.set()

    def _write(self, points: list[Point]) -> None:
        # C-level column extraction: zip(*points) over a million tuples cost 0.8 s here,
        # map(itemgetter) 0.03 s a column.
        n = len(points)
        series: dict[tuple[str, str], int] = {}
        codes = np.fromiter(
            [series.setdefault(pair, len(series)) for pair in map(itemgetter(0, 1), points)],
            np.int64,
            n,
        )
        all_values = np.fromiter(map(itemgetter(2), points), np.float64, n)
        all_steps = np.fromiter(map(itemgetter(3), points), np.int64, n)
        all_stamps = np.fromiter(map(itemgetter(4), points), np.int64, n)
        with self._write_lock, self._store.write() as conn:
            for (run_id, key), code in series.items():
                if len(series) == 1:
                    part = (all_values, all_steps, all_stamps)
                else:
                    mask = codes == code
                    part = (all_values[mask], all_steps[mask], all_stamps[mask])
                _append_series(conn, run_id, key, part)


def _append_series(
    conn: sa.Connection, run_id: str, key: str, points: tuple[F64, I64, I64]
) -> None:
    """Appends points to one series: tops up its last chunk, adds new chunks, updates the
    series row (latest point and downsample)."""
    import sqlalchemy as sa

    values, steps, stamps = points
    where = (metric_series.c.run_id == run_id) & (metric_series.c.key == key)
    current = conn.execute(sa.select(metric_series).where(where)).first()
    seq = 0
    count = 0
    downsample = Downsample.empty()
    if current is not None:
        count, seq = int(current.points), int(current.chunks)
        downsample = Downsample.decode(current.downsample)
        chunk_where = (
            (metric_chunks.c.run_id == run_id)
            & (metric_chunks.c.key == key)
            & (metric_chunks.c.seq == seq - 1)
        )
        last = conn.execute(sa.select(metric_chunks).where(chunk_where)).first()
        if last is not None and last.points < CHUNK_POINTS:
            # Merge into the partial last chunk rather than leaving many tiny ones.
            s, v, t = decode_chunk(last.data)
            steps_all = np.concatenate([s, steps])
            values_all = np.concatenate([v, values])
            stamps_all = np.concatenate([t, stamps])
            conn.execute(metric_chunks.delete().where(chunk_where))
            seq -= 1
        else:
            steps_all, values_all, stamps_all = steps, values, stamps
    else:
        steps_all, values_all, stamps_all = steps, values, stamps
    chunk_rows: list[dict[str, Any]] = []
    for start in range(0, len(steps_all), CHUNK_POINTS):
        s = steps_all[start : start + CHUNK_POINTS]
        chunk_rows.append(
            {
                "run_id": run_id,
                "key": key,
                "seq": seq,
                "points": len(s),
                "step_min": int(s.min()),
                "step_max": int(s.max()),
                "data": encode_chunk(
                    s,
                    values_all[start : start + CHUNK_POINTS],
                    stamps_all[start : start + CHUNK_POINTS],
                ),
            }
        )
        seq += 1
    conn.execute(metric_chunks.insert(), chunk_rows)
    last_value = float(values[-1])
    row = {
        "points": count + len(steps),
        "chunks": seq,
        "last_step": int(steps[-1]),
        "last_value": None if np.isnan(last_value) else last_value,
        "last_timestamp": int(stamps[-1]),
        "downsample": downsample.append(steps, values, stamps).encode(),
    }
    if current is None:
        conn.execute(metric_series.insert(), [{"run_id": run_id, "key": key, **row}])
    else:
        conn.execute(metric_series.update().where(where).values(**row))
