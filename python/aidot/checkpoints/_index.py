"""Where a CheckpointManager records its checkpoints: the workspace database (one run's rows)
or an ``index.json`` in a plain folder. Either way the record is what retention ranks, so a
manager created later, in another process, prunes exactly as the first one would have."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from aidot.errors import SchemaVersionError, StorageError

if TYPE_CHECKING:
    from aidot.store import MetadataStore

_INDEX_FORMAT = "aidot.checkpoints"
_INDEX_VERSION = 1


@dataclass(frozen=True)
class CheckpointInfo:
    """A saved checkpoint: when, at which step and epoch, with which metrics, how large."""

    id: str
    step: int | None
    epoch: int | None
    metrics: dict[str, float]
    created_at: int
    """Milliseconds since the epoch."""
    manifest: str
    """Digest of the manifest blob that describes the state."""
    size: int
    """Bytes of state (arrays, bytes, pickles), before deduplication."""


class CheckpointIndex(Protocol):
    """The record of one manager's checkpoints."""

    def entries(self) -> list[CheckpointInfo]:
        """Checkpoints, oldest first."""
        ...

    def add(self, info: CheckpointInfo, digests: Iterable[str]) -> None:
        """Records a checkpoint and the blobs it uses, atomically."""
        ...

    def remove(self, ids: Iterable[str]) -> set[str]:
        """Forgets checkpoints; returns the digests nothing recorded uses any more."""
        ...

    def unreferenced(self, digests: Iterable[str]) -> set[str]:
        """Those of ``digests`` that nothing recorded uses."""
        ...


class DatabaseIndex:
    """A run's checkpoints in the workspace database; blobs referenced as
    ``checkpoint:<id>`` so that workspace garbage collection keeps them."""

    def __init__(self, store: MetadataStore, run_id: str) -> None:
        self._store = store
        self.run_id = run_id

    def entries(self) -> list[CheckpointInfo]:
        import sqlalchemy as sa

        from aidot.store._schema import checkpoints

        query = (
            sa.select(checkpoints)
            .where(checkpoints.c.run_id == self.run_id)
            .order_by(checkpoints.c.created_at, checkpoints.c.id)
        )
        with self._store.read() as conn:
            return [
                CheckpointInfo(
                    id=r.id,
                    step=r.step,
                    epoch=r.epoch,
                    metrics=json.loads(r.metrics),
                    created_at=r.created_at,
                    manifest=r.manifest,
                    size=r.size,
                )
                for r in conn.execute(query)
            ]

    def add(self, info: CheckpointInfo, digests: Iterable[str]) -> None:
        from aidot.store._metadata_store import insert_blob_refs
        from aidot.store._schema import checkpoints

        row = {**asdict(info), "metrics": json.dumps(info.metrics), "run_id": self.run_id}
        with self._store.write() as conn:
            conn.execute(checkpoints.insert(), [row])
            insert_blob_refs(conn, _owner(info.id), digests)

    def remove(self, ids: Iterable[str]) -> set[str]:
        import sqlalchemy as sa

        from aidot.store._schema import blob_refs, checkpoints

        owners = [_owner(i) for i in ids]
        if not owners:
            return set()
        with self._store.write() as conn:
            released = set(
                conn.execute(
                    sa.select(blob_refs.c.digest).where(blob_refs.c.owner.in_(owners))
                ).scalars()
            )
            conn.execute(blob_refs.delete().where(blob_refs.c.owner.in_(owners)))
            conn.execute(checkpoints.delete().where(checkpoints.c.id.in_(list(ids))))
            still_used = _referenced(conn, released)
        return released - still_used

    def unreferenced(self, digests: Iterable[str]) -> set[str]:
        wanted = set(digests)
        with self._store.read() as conn:
            return wanted - _referenced(conn, wanted)


class FolderIndex:
    """Checkpoints of a plain folder (no workspace): ``index.json`` beside ``blobs/``,
    replaced atomically and changed under a file lock, so several processes may share it."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._path = folder / "index.json"
        self._lock_path = folder / "index.lock"

    def entries(self) -> list[CheckpointInfo]:
        return [_info(entry) for entry in self._read()]

    def add(self, info: CheckpointInfo, digests: Iterable[str]) -> None:
        with self._locked():
            entries = self._read()
            entries.append({**asdict(info), "digests": sorted(set(digests))})
            self._write(entries)

    def remove(self, ids: Iterable[str]) -> set[str]:
        gone = set(ids)
        with self._locked():
            entries = self._read()
            kept = [e for e in entries if e["id"] not in gone]
            released = {d for e in entries if e["id"] in gone for d in e["digests"]}
            self._write(kept)
        return released - {d for e in kept for d in e["digests"]}

    def unreferenced(self, digests: Iterable[str]) -> set[str]:
        return set(digests) - {d for e in self._read() for d in e["digests"]}

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        self.folder.mkdir(parents=True, exist_ok=True)
        fd = os.open(self._lock_path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    def _read(self) -> list[dict[str, Any]]:
        try:
            document = json.loads(self._path.read_text())
        except FileNotFoundError:
            return []
        except (ValueError, OSError) as exc:
            raise StorageError(f"cannot read the checkpoint index {self._path}: {exc}") from exc
        if document.get("format") != _INDEX_FORMAT:
            raise StorageError(f"{self._path} is not an aidot checkpoint index")
        if document.get("version", 0) > _INDEX_VERSION:
            raise SchemaVersionError(
                f"{self._path} was written by a newer aidot (index version "
                f"{document['version']}); upgrade aidot to use these checkpoints"
            )
        entries: list[dict[str, Any]] = document["checkpoints"]
        return entries

    def _write(self, entries: list[dict[str, Any]]) -> None:
        document = {"format": _INDEX_FORMAT, "version": _INDEX_VERSION, "checkpoints": entries}
        temporary = self._path.with_name(f".index.{os.getpid()}.tmp")
        with open(temporary, "w") as f:
            json.dump(document, f, indent=1)
            f.flush()
            os.fsync(f.fileno())
        temporary.replace(self._path)
        dir_fd = os.open(self.folder, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


def _referenced(conn: Any, digests: set[str]) -> set[str]:
    """Those of ``digests`` that some owner (of any kind) references."""
    import sqlalchemy as sa

    from aidot.store._schema import blob_refs

    if not digests:
        return set()
    query = sa.select(blob_refs.c.digest).where(blob_refs.c.digest.in_(sorted(digests)))
    return set(conn.execute(query).scalars())


def _owner(checkpoint_id: str) -> str:
    return f"checkpoint:{checkpoint_id}"


def _info(entry: dict[str, Any]) -> CheckpointInfo:
    return CheckpointInfo(
        id=entry["id"],
        step=entry["step"],
        epoch=entry["epoch"],
        metrics=entry["metrics"],
        created_at=entry["created_at"],
        manifest=entry["manifest"],
        size=entry["size"],
    )
