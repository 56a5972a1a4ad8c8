"""The spool: a local file holding what could not reach the store yet.

While the metadata store is unreachable, the metric writer appends each batch here (fsynced, so
a ``flush()`` that returns means "on disk", even if not yet in the database) and replays the
file once the store answers again. Each record is ``magic, length, crc32, payload``: a torn
last record (the process died mid-write) fails its checksum and is ignored.

A live writer holds an exclusive ``flock`` on its spool. A spool nobody holds belongs to a
process that died before it could replay it: the next tracker opened on the same database
(found by its ``workspace_id``) claims it, replays it and deletes it. Records replayed in
groups advance an offset kept beside the file, so a crash mid-replay does not replay a
committed group twice, except for the last group if the crash fell between its commit and the
offset update.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import struct
import zlib
from collections.abc import Iterator
from pathlib import Path

from aidot._ids import new_id

SUFFIX = ".spool"
_MAGIC = b"ASP1"
_RECORD = struct.Struct("<4sQI")


class Spool:
    """One writer's spool file, created (and locked) on first use."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.path: Path | None = None
        self._fd: int | None = None
        self.pending = False
        """Whether the file holds records not yet replayed."""

    def append(self, payload: bytes) -> None:
        """Adds one record and waits until it is on disk."""
        fd = self._open()
        record = _RECORD.pack(_MAGIC, len(payload), zlib.crc32(payload)) + payload
        view = memoryview(record)
        while view:
            written = os.write(fd, view)
            view = view[written:]
        os.fsync(fd)
        self.pending = True

    def records(self) -> Iterator[tuple[int, bytes]]:
        """``(end offset, payload)`` of each record not yet replayed."""
        if self._fd is None:
            return iter(())
        return read_records(self._fd, _done_offset(self._done_path()))

    def mark_replayed(self, offset: int) -> None:
        """Remembers that every record before ``offset`` is in the store."""
        assert self.path is not None
        mark_replayed(self.path, offset)

    def clear(self) -> None:
        """Empties the file once everything in it is in the store."""
        if self._fd is not None:
            os.ftruncate(self._fd, 0)
            os.lseek(self._fd, 0, os.SEEK_SET)
            os.fsync(self._fd)
            with contextlib.suppress(FileNotFoundError):
                self._done_path().unlink()
        self.pending = False

    def close(self) -> None:
        """Deletes the file when empty, else leaves it for a later process; unlocks it."""
        if self._fd is None or self.path is None:
            return
        if not self.pending:
            with contextlib.suppress(FileNotFoundError):
                self.path.unlink()
        os.close(self._fd)
        self._fd = None

    def _open(self) -> int:
        if self._fd is None:
            self.folder.mkdir(parents=True, exist_ok=True)
            name = new_id()
            # Lock before the file gets its final name, so no other process can claim it as
            # an orphan in between.
            temporary = self.folder / f".{name}.tmp"
            fd = os.open(temporary, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o600)
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            self.path = self.folder / f"{name}{SUFFIX}"
            temporary.rename(self.path)
            self._fd = fd
        return self._fd

    def _done_path(self) -> Path:
        assert self.path is not None
        return done_path(self.path)


def read_records(fd: int, start: int = 0) -> Iterator[tuple[int, bytes]]:
    """The intact records of a spool file from ``start``; stops at a torn or damaged one."""
    size = os.fstat(fd).st_size
    offset = start
    while offset + _RECORD.size <= size:
        magic, length, checksum = _RECORD.unpack(os.pread(fd, _RECORD.size, offset))
        end = offset + _RECORD.size + length
        if magic != _MAGIC or end > size:
            return
        payload = os.pread(fd, length, offset + _RECORD.size)
        if len(payload) != length or zlib.crc32(payload) != checksum:
            return
        yield end, payload
        offset = end


@contextlib.contextmanager
def claim_orphans(folder: Path) -> Iterator[list[tuple[Path, int]]]:
    """Locks the spool files in ``folder`` that no live process holds, yielding ``(path,
    fd)`` pairs; the caller replays them and deletes each with :func:`discard`."""
    claimed: list[tuple[Path, int]] = []
    try:
        for path in sorted(folder.glob(f"*{SUFFIX}")) if folder.is_dir() else []:
            try:
                fd = os.open(path, os.O_RDWR)
            except FileNotFoundError:
                continue
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                # Another claimer may have replayed and deleted it after we opened it.
                if os.fstat(fd).st_nlink == 0:
                    raise BlockingIOError
            except BlockingIOError:
                os.close(fd)
                continue
            claimed.append((path, fd))
        yield claimed
    finally:
        for _, fd in claimed:
            with contextlib.suppress(OSError):
                os.close(fd)


def discard(path: Path) -> None:
    """Deletes a replayed spool file, then its offset file (in this order: a crash in
    between must not leave the records without their offset)."""
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
    with contextlib.suppress(FileNotFoundError):
        done_path(path).unlink()


def done_path(path: Path) -> Path:
    return path.with_name(path.name + ".done")


def _done_offset(path: Path) -> int:
    try:
        return int(path.read_text())
    except (FileNotFoundError, ValueError):
        return 0


def read_offset(path: Path) -> int:
    """Where replay of the spool file ``path`` stopped last time."""
    return _done_offset(done_path(path))


def mark_replayed(spool_path: Path, offset: int) -> None:
    """Remembers that every record of ``spool_path`` before ``offset`` is in the store."""
    path = done_path(spool_path)
    temporary = path.with_name(path.name + ".tmp")
    with open(temporary, "w") as f:
        f.write(str(offset))
        f.flush()
        os.fsync(f.fileno())
    temporary.replace(path)
