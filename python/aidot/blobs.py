"""The blob store: content-addressed bytes, named by the BLAKE3 digest of their content.

``BlobStore(path)`` keeps blobs in a local folder. The digest of a blob is the BLAKE3 hash of
its full content, exactly what ``b3sum FILE`` prints. Large files are split by content-defined
chunking, so storing a file that grew or changed a little stores only its new chunks. Writes are
atomic and durable when a call returns; reads check the digest. The work happens in Rust with
the GIL released.

Example::

    store = BlobStore("./.aidot/blobs")
    digest = store.put_file("weights.bin")
    store.export(digest, "restored.bin")
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from aidot import _core
from aidot.errors import InvalidArgumentError

if TYPE_CHECKING:
    from typing_extensions import Buffer

__all__ = [
    "BlobStat",
    "BlobStore",
    "GcReport",
    "ProgressCallback",
    "PutReport",
    "StoreUsage",
    "VerifyReport",
    "hash_bytes",
    "list_files",
]

ProgressCallback = Callable[[int, int, int], object]
"""Called as ``progress(bytes_done, bytes_total, files_done)`` about ten times a second."""

ExportMethod = Literal["reflink", "hardlink", "copy"]

MISSING = "missing from the store"
"""What :meth:`BlobStore.verify_each` reports for a blob that is not stored."""

DEFAULT_GC_GRACE_SECONDS = 3600.0
"""Files written or reused more recently than this survive ``gc``, protecting concurrent puts."""


@dataclass(frozen=True)
class PutReport:
    """What storing one piece of content did."""

    digest: str
    size: int
    bytes_written: int
    """New bytes written; 0 when everything was stored already."""
    chunks: int


@dataclass(frozen=True)
class BlobStat:
    """Size and layout of a stored blob."""

    digest: str
    size: int
    chunks: int
    """Number of chunks; 1 for a blob stored whole."""
    chunked: bool


@dataclass(frozen=True)
class VerifyReport:
    """The outcome of :meth:`BlobStore.verify`."""

    checked: int
    corrupt: dict[str, str]
    """Damaged blobs: digest -> what is wrong."""
    damaged_packs: dict[str, str] = field(default_factory=dict)
    """Packs whose index is damaged and could not be rebuilt from the pack: pack id -> what is
    wrong. Their blobs cannot be read (the files are kept); the rest of the store can."""

    @property
    def ok(self) -> bool:
        """True when nothing checked was damaged."""
        return not self.corrupt and not self.damaged_packs


@dataclass(frozen=True)
class GcReport:
    """The outcome of :meth:`BlobStore.gc`."""

    blobs_removed: int
    chunks_removed: int
    temp_removed: int
    bytes_freed: int


@dataclass(frozen=True)
class StoreUsage:
    """What a store holds on disk."""

    blobs: int
    chunks: int
    bytes: int


def hash_bytes(data: bytes) -> str:
    """The BLAKE3 hex digest of ``data``: the name it would get in a blob store."""
    return _core.hash_bytes(data)


def _report(raw: tuple[str, int, int, int]) -> PutReport:
    return PutReport(*raw)


class BlobStore:
    """A content-addressed blob store in a local folder (created when missing or empty).

    Several threads and processes may use one store at once. ``chunk_threshold`` and the
    ``*_chunk`` sizes tune content-defined chunking; the defaults (files above 4 MiB cut into
    chunks of 1 MiB on average) suit model weights and datasets.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        chunk_threshold: int | None = None,
        min_chunk: int | None = None,
        avg_chunk: int | None = None,
        max_chunk: int | None = None,
    ) -> None:
        self._inner = _core.BlobStore(
            os.fspath(path),
            chunk_threshold=chunk_threshold,
            min_chunk=min_chunk,
            avg_chunk=avg_chunk,
            max_chunk=max_chunk,
        )

    def __repr__(self) -> str:
        return f"BlobStore({str(self.root)!r})"

    @property
    def root(self) -> Path:
        """The store's folder."""
        return Path(self._inner.root)

    def put_bytes(self, data: Buffer) -> str:
        """Stores ``data`` (any bytes-like object) and returns its digest."""
        return self._inner.put_bytes(_as_bytes(data))[0]

    def put_file(self, path: str | os.PathLike[str]) -> str:
        """Stores the file at ``path`` and returns its digest.

        The file is streamed: a large one is never read whole into memory.
        """
        return self._inner.put_file(_path(path))[0]

    def put_files(
        self,
        paths: Iterable[str | os.PathLike[str]],
        progress: ProgressCallback | None = None,
    ) -> list[str]:
        """Stores many files in parallel and returns their digests in order.

        The batch is made durable once, at the end. A missing path or a directory fails the
        call before anything is written; on Ctrl-C or any later error nothing of the batch
        becomes visible.
        """
        return [r.digest for r in self.put_files_report(paths, progress)]

    def put_files_report(
        self,
        paths: Iterable[str | os.PathLike[str]],
        progress: ProgressCallback | None = None,
    ) -> list[PutReport]:
        """Like :meth:`put_files`, with what each put wrote (to tell new data from duplicates)."""
        raw = self._inner.put_files([_path(p) for p in paths], progress)
        return [_report(r) for r in raw]

    def put_buffers(self, buffers: Sequence[Buffer]) -> list[PutReport]:
        """Stores several C-contiguous buffers (NumPy arrays, ``bytes``, memoryviews) in
        parallel, each as a file of its own however large (never chunked or packed), so that
        :meth:`whole_path` can memory-map it; durable once for the batch. The GIL is released
        and nothing is copied: the buffers must not change until the call returns."""
        import numpy as np

        views = []
        for buffer in buffers:
            view = memoryview(buffer)
            if not view.c_contiguous:
                raise InvalidArgumentError("put_buffers needs C-contiguous buffers")
            # An empty buffer cannot be cast (zeros in its shape); it has nothing to read.
            flat = view.cast("B") if view.nbytes else b""
            views.append(np.frombuffer(flat, np.uint8))
        addresses = [(int(v.ctypes.data), int(v.nbytes)) for v in views]
        raw = self._inner.put_addresses_whole(addresses)
        del views  # the buffers were only read while the call ran
        return [_report(r) for r in raw]

    def whole_path(self, digest: str) -> Path | None:
        """The read-only file holding a blob stored whole (what :meth:`put_buffers`, and
        single puts of up to the chunking threshold, write), for memory-mapping it; ``None``
        when the blob is chunked or packed."""
        path = self._inner.whole_path(digest)
        return None if path is None else Path(path)

    def verify_digests(self, digests: Iterable[str]) -> None:
        """Re-hashes these blobs in parallel; raises :class:`~aidot.errors.IntegrityError`
        naming a damaged one, :class:`~aidot.errors.BlobNotFoundError` for a missing one."""
        self._inner.verify_digests(list(digests))

    def get_bytes(self, digest: str) -> bytes:
        """The whole content; raises :class:`~aidot.errors.IntegrityError` if it was damaged."""
        return self._inner.get_bytes(digest)

    def read_into(self, digest: str, buffer: Buffer) -> int:
        """Reads the content into the start of a writable buffer (a ``bytearray``, a NumPy
        array, an ``mmap``...) without an intermediate copy; returns the number of bytes."""
        import ctypes  # only here: most programs never call read_into

        view = memoryview(buffer)
        if view.readonly:
            raise InvalidArgumentError("read_into needs a writable buffer; got a read-only one")
        if not view.c_contiguous:
            raise InvalidArgumentError("read_into needs a C-contiguous buffer")
        nbytes = view.nbytes
        if nbytes == 0:
            return self._inner.read_into_address(digest, 0, 0)
        # Exporting the buffer through ctypes pins it (a bytearray cannot be resized meanwhile)
        # and gives Rust its address; the export lives until the call returns.
        pinned = (ctypes.c_char * nbytes).from_buffer(view.cast("B"))
        try:
            return self._inner.read_into_address(digest, ctypes.addressof(pinned), nbytes)
        finally:
            del pinned
            view.release()

    def export(
        self, digest: str, dest: str | os.PathLike[str], *, link: bool = False
    ) -> ExportMethod:
        """Writes the blob to ``dest`` atomically and returns how.

        Clones copy-on-write where the filesystem can, else copies. With ``link=True`` a blob
        stored in a file of its own is hard-linked instead (read-only, sharing the store's file);
        chunked and packed blobs are always copied.
        """
        return self._inner.export(digest, _path(dest), link)  # type: ignore[return-value]

    def has(self, digest: str) -> bool:
        """Whether a blob with this digest is stored."""
        return self._inner.has(digest)

    def __contains__(self, digest: object) -> bool:
        return isinstance(digest, str) and self._inner.has(digest)

    def stat(self, digest: str) -> BlobStat:
        """Size and chunk count of a stored blob."""
        size, chunks, chunked = self._inner.stat(digest)
        return BlobStat(digest.lower(), size, chunks, chunked)

    def verify(self, digest: str | None = None) -> VerifyReport:
        """Re-hashes one blob, or all of them in parallel, and reports the damaged ones."""
        checked, corrupt, packs = self._inner.verify(digest)
        return VerifyReport(checked, dict(corrupt), dict(packs))

    def verify_each(self, digests: Iterable[str]) -> VerifyReport:
        """Re-hashes these blobs in parallel and reports every missing (``"missing from the
        store"``) or damaged one, rather than raising at the first as :meth:`verify_digests`."""
        checked, corrupt = self._inner.verify_each(list(digests))
        return VerifyReport(checked, dict(corrupt))

    def delete(self, digest: str) -> bool:
        """Removes a blob; returns whether it was stored. Unused chunks go at the next ``gc``."""
        return self._inner.delete(digest)

    def delete_stale(
        self, digests: Iterable[str], *, grace_seconds: float = DEFAULT_GC_GRACE_SECONDS
    ) -> GcReport:
        """Deletes those of ``digests`` that no put wrote or reused within ``grace_seconds``,
        and spares the rest; unused chunks go at the next ``gc``. For a caller that has just
        dropped its references to these blobs and checked that no one else has any: unlike
        :meth:`delete`, it never takes a blob a concurrent put is about to reference."""
        return GcReport(*self._inner.delete_stale(list(digests), grace_seconds))

    def gc(
        self, live: Iterable[str], *, grace_seconds: float = DEFAULT_GC_GRACE_SECONDS
    ) -> GcReport:
        """Deletes every blob not in ``live``, then chunks no remaining blob uses, then leftovers
        of interrupted writes; files touched within ``grace_seconds`` are spared."""
        return GcReport(*self._inner.gc(list(live), grace_seconds))

    def __iter__(self) -> Iterator[str]:
        """The digests of all stored blobs, sorted."""
        return iter(self._inner.list())

    def __len__(self) -> int:
        return len(self._inner.list())

    def usage(self) -> StoreUsage:
        """Counts blobs and chunks and the bytes they take on disk."""
        return StoreUsage(*self._inner.usage())


def list_files(root: str | os.PathLike[str]) -> list[str]:
    """The relative paths (``/``-separated, sorted) of every file under the folder ``root``,
    listed in parallel. A symbolic link to a file inside ``root`` counts as that file; any
    other link (outside ``root``, to a folder, dangling) raises
    :class:`~aidot.errors.InvalidArgumentError` naming it: the rule of everything aidot
    versions (datasets, registered folders, logged artifact folders)."""
    return list(_core.scan_tree(_path(root))[0])


def _path(path: str | os.PathLike[str]) -> str:
    try:
        return os.fspath(path)
    except TypeError:
        raise InvalidArgumentError(
            f"expected a path (str or os.PathLike), got {type(path).__name__}"
        ) from None


def _as_bytes(data: Buffer) -> bytes:
    if isinstance(data, bytes):
        return data
    try:
        return memoryview(data).tobytes()
    except TypeError:
        raise InvalidArgumentError(
            f"expected a bytes-like object, got {type(data).__name__}"
        ) from None
