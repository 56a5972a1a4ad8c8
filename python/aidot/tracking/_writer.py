"""The background writer: ``log_metric`` appends to a queue; a thread batches into the store.

A logging call costs a ``deque.append`` (thread-safe without a lock). The writer thread wakes
every ``interval`` seconds, or at once on :meth:`MetricWriter.flush`, drains the queue, groups
the points by series and appends them as compressed chunks (see ``_series.py``). A ``kill -9``
loses at most the last interval; :meth:`flush`, the end of a run and interpreter exit lose
nothing.

When the store is unreachable (a PostgreSQL server restarting, a network cut), each drained
batch goes to a local spool file instead (see ``_spool.py``) and the writer retries the store
every interval; once it answers, the spool is replayed in order and writing goes direct again.
Logging calls never notice: they only ever append to the queue.
"""

from __future__ import annotations

import atexit
import logging
import threading
import weakref
from collections import deque
from collections.abc import Callable, Iterable
from functools import partial
from itertools import repeat, starmap
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import numpy as np

from aidot.errors import StorageError, StoreUnavailableError
from aidot.store._schema import metric_chunks, metric_series
from aidot.tracking import _ops
from aidot.tracking._batch import Batch, Point
from aidot.tracking._ops import Op
from aidot.tracking._series import (
    CHUNK_POINTS,
    F64,
    I64,
    Downsample,
    decode_chunk,
    encode_chunk,
)
from aidot.tracking._spool import (
    Spool,
    claim_orphans,
    discard,
    mark_replayed,
    read_offset,
    read_records,
)

if TYPE_CHECKING:
    import sqlalchemy as sa

    from aidot.store import MetadataStore

__all__ = ["DEFAULT_INTERVAL_S", "MetricWriter", "Point"]

DEFAULT_INTERVAL_S = 1.0
REPLAY_GROUP_POINTS = 2_000_000
"""Spooled points written per transaction on replay (bounds memory, not correctness)."""

_log = logging.getLogger("aidot.tracking")
_live_writers: weakref.WeakSet[MetricWriter] = weakref.WeakSet()


@atexit.register
def _flush_all_at_exit() -> None:
    for writer in list(_live_writers):
        writer.close()


class MetricWriter:
    """Batches metric points (and deferred run operations) into the metadata store from a
    background thread, spooling them to ``spool_dir`` while the store is unreachable.

    With ``synchronous=True`` every :meth:`add` writes before it returns (for tests and
    debugging); nothing is spooled then.
    """

    def __init__(
        self,
        store: MetadataStore,
        *,
        interval: float = DEFAULT_INTERVAL_S,
        synchronous: bool = False,
        spool_dir: Path | None = None,
    ) -> None:
        self._store = store
        self._interval = interval
        self._synchronous = synchronous
        self._queue: deque[Point] = deque()
        # Flush requests and deferred ops: apart, so that draining points needs no type test
        # per item. A request is queued after the points it covers, and the drain takes
        # requests before points, so it always writes what a request waits for.
        self._control: deque[Op | threading.Event] = deque()
        self._wake = threading.Event()
        self._closed = False
        self._error: BaseException | None = None
        self._write_lock = threading.Lock()
        self._spool = Spool(spool_dir) if spool_dir is not None and not synchronous else None
        self._thread: threading.Thread | None = None
        if not synchronous:
            self._thread = threading.Thread(target=self._loop, name="aidot-metrics", daemon=True)
            self._thread.start()
        _live_writers.add(self)

    @property
    def offline(self) -> bool:
        """Whether the store was unreachable at the last attempt and data waits in the spool."""
        return self._spool is not None and self._spool.pending

    @property
    def can_defer(self) -> bool:
        """Whether :meth:`defer` is available (asynchronous writer with a spool)."""
        return self._spool is not None

    def add(self, point: Point) -> None:
        """Queues one point (or writes it now in synchronous mode)."""
        if self._synchronous:
            self._write(Batch.from_points([point]))
        else:
            self._queue.append(point)

    def add_function(self) -> Callable[[Point], None]:
        """The cheapest callable that adds a point: the queue's own ``append`` when
        asynchronous (saves a Python call per point in the training loop)."""
        return self.add if self._synchronous else self._queue.append

    def defer(self, op: Op) -> None:
        """Queues a run operation the store could not take now; it is spooled with the points
        and applied once the store is back (needs :attr:`can_defer`)."""
        self._control.append(op)
        self._wake.set()

    def flush(self) -> None:
        """Returns once every point added before the call is in the store, or, while the
        store is unreachable, safely in the spool file."""
        if self._synchronous or self._thread is None:
            return
        done = threading.Event()
        self._control.append(done)
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
        """Flushes and stops the thread; the writer cannot be used afterwards. A spool that
        still holds data stays on disk for the next tracker on this database to replay."""
        if self._closed:
            return
        self.flush()
        self._closed = True
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
        if self._spool is not None:
            if self._spool.pending:
                _log.warning(
                    "the metadata store is still unreachable: logged data stays in %s and is "
                    "written the next time aidot opens this database",
                    self._spool.path,
                )
            self._spool.close()

    def _loop(self) -> None:
        self._replay_orphans()
        while not self._closed:
            self._wake.wait(self._interval)
            self._wake.clear()
            self._drain()

    def _drain(self) -> None:
        control = self._control
        requests = list(starmap(control.popleft, repeat((), len(control))))
        ops = [x for x in requests if x.__class__ is Op]
        waiters = [x for x in requests if x.__class__ is not Op]
        queue = self._queue
        # Take only what is queued now (producers keep appending behind it), popping at C
        # speed: at a million points a second, a Python loop here was a large part of the cost.
        points = list(starmap(queue.popleft, repeat((), len(queue))))
        try:
            if points or ops:
                self._store_batch(Batch.from_points(points, ops))
            self._error = None
        except Exception as exc:  # keep the thread alive: the next drain retries, nothing lost
            self._error = exc
            queue.extendleft(reversed(points))
            control.extendleft(reversed(ops))
        finally:
            for waiter in waiters:
                cast("threading.Event", waiter).set()
        if self.offline:
            self._replay_spool()

    def _store_batch(self, batch: Batch) -> None:
        if self._spool is None:
            self._write(batch)
        elif self._spool.pending:
            self._spool.append(batch.encode())  # keep order: behind what is spooled already
        else:
            try:
                self._write(batch)
            except StoreUnavailableError as exc:
                self._spool.append(batch.encode())
                _log.warning(
                    "%s; logging continues into %s and is written once the store is back",
                    exc,
                    self._spool.path,
                )

    def _replay_spool(self) -> None:
        spool = self._spool
        assert spool is not None
        try:
            written = self._replay(spool.records(), spool.mark_replayed)
        except StoreUnavailableError:
            return  # still down: try again next interval
        except Exception:
            _log.exception("replaying the spool %s failed; retrying next interval", spool.path)
            return
        spool.clear()
        _log.warning("the metadata store is back: wrote %d spooled points", written)
        self._replay_orphans()

    def _replay_orphans(self) -> None:
        """Writes the spools of processes that died while the store was unreachable."""
        if self._spool is None:
            return
        try:
            with claim_orphans(self._spool.folder) as claimed:
                for path, fd in claimed:
                    records = read_records(fd, read_offset(path))
                    written = self._replay(records, partial(mark_replayed, path))
                    discard(path)
                    _log.warning("wrote %d points spooled by an earlier process", written)
        except StoreUnavailableError:
            return
        except Exception:
            _log.exception("replaying spool files in %s failed", self._spool.folder)

    def _replay(
        self, records: Iterable[tuple[int, bytes]], mark_replayed: Callable[[int], None]
    ) -> int:
        """Writes spooled records in groups, remembering progress after each; returns the
        number of points written."""
        group: list[Batch] = []
        size = written = 0
        end = 0
        for end, payload in records:
            batch = Batch.decode(payload)
            group.append(batch)
            size += len(batch)
            if size >= REPLAY_GROUP_POINTS:
                self._write(Batch.concat(group))
                mark_replayed(end)
                written += size
                group, size = [], 0
        if group:
            self._write(Batch.concat(group))
            mark_replayed(end)
            written += size
        return written

    def _write(self, batch: Batch) -> None:
        with self._write_lock, self._store.write() as conn:
            parts = list(batch.parts())
            existing = _existing_series(conn, {run_id for run_id, _, _ in parts})
            # Series seen for the first time (every trial of a study starts its own) are
            # inserted together: one statement per table rather than three per series.
            new_chunks: list[dict[str, Any]] = []
            new_series: list[dict[str, Any]] = []
            for run_id, key, part in parts:
                current = existing.get((run_id, key))
                if current is None:
                    chunks = _chunk_rows(run_id, key, 0, part)
                    new_chunks += chunks
                    row = _series_row(0, len(chunks), Downsample.empty(), part)
                    new_series.append({"run_id": run_id, "key": key, **row})
                else:
                    _append_series(conn, run_id, key, part, current)
            if new_chunks:
                conn.execute(metric_chunks.insert(), new_chunks)
            if new_series:
                conn.execute(metric_series.insert(), new_series)
            for op in batch.ops:
                _ops.apply(conn, op, replay=True)


_IN_LIMIT = 500
"""Run ids per ``IN (...)`` list, well under every database's parameter limit."""


def _existing_series(conn: sa.Connection, run_ids: set[str]) -> dict[tuple[str, str], Any]:
    """The series rows of these runs, by (run id, key)."""
    import sqlalchemy as sa

    ids = sorted(run_ids)
    found: dict[tuple[str, str], Any] = {}
    for start in range(0, len(ids), _IN_LIMIT):
        query = sa.select(metric_series).where(
            metric_series.c.run_id.in_(ids[start : start + _IN_LIMIT])
        )
        for row in conn.execute(query):
            found[(row.run_id, row.key)] = row
    return found


def _append_series(
    conn: sa.Connection, run_id: str, key: str, points: tuple[F64, I64, I64], current: Any
) -> None:
    """Appends points to an existing series (``current``, its row): tops up its last chunk,
    adds new chunks, updates the series row (latest point and downsample)."""
    import sqlalchemy as sa

    values, steps, stamps = points
    where = (metric_series.c.run_id == run_id) & (metric_series.c.key == key)
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
        merged = (
            np.concatenate([v, values]),
            np.concatenate([s, steps]),
            np.concatenate([t, stamps]),
        )
        chunk_rows = _chunk_rows(run_id, key, seq - 1, merged)
        conn.execute(metric_chunks.delete().where(chunk_where))
        chunks = seq - 1 + len(chunk_rows)
    else:
        chunk_rows = _chunk_rows(run_id, key, seq, points)
        chunks = seq + len(chunk_rows)
    conn.execute(metric_chunks.insert(), chunk_rows)
    row = _series_row(count, chunks, downsample, points)
    conn.execute(metric_series.update().where(where).values(**row))


def _chunk_rows(
    run_id: str, key: str, first_seq: int, points: tuple[F64, I64, I64]
) -> list[dict[str, Any]]:
    """Points as chunk rows of at most :data:`CHUNK_POINTS`, numbered from ``first_seq``."""
    values, steps, stamps = points
    rows = []
    for seq, start in enumerate(range(0, len(steps), CHUNK_POINTS), start=first_seq):
        s = steps[start : start + CHUNK_POINTS]
        rows.append(
            {
                "run_id": run_id,
                "key": key,
                "seq": seq,
                "points": len(s),
                "step_min": int(s.min()),
                "step_max": int(s.max()),
                "data": encode_chunk(
                    s, values[start : start + CHUNK_POINTS], stamps[start : start + CHUNK_POINTS]
                ),
            }
        )
    return rows


def _series_row(
    count: int, chunks: int, downsample: Downsample, points: tuple[F64, I64, I64]
) -> dict[str, Any]:
    """A series row after appending ``points`` to ``count`` earlier ones."""
    values, steps, stamps = points
    last_value = float(values[-1])
    return {
        "points": count + len(steps),
        "chunks": chunks,
        "last_step": int(steps[-1]),
        "last_value": None if np.isnan(last_value) else last_value,
        "last_timestamp": int(stamps[-1]),
        "downsample": downsample.append(steps, values, stamps).encode(),
    }
