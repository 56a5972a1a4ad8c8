"""What a folder looked like when aidot last hashed it: the stat cache of data versioning.

For each tree added (or found clean by ``status``) a small file beside the workspace
(``<workspace>/statcache/<id>.state``, per machine: inodes and mtimes mean nothing elsewhere)
keeps every file's size, modification time (ns), inode and digest, plus the listing's
fingerprint and the manifest the tree matched. ``add`` does not read a file whose stat
matches, so a tree state names only digests whose content is in the store (``status`` hashes
edited files without storing them, and leaves those unknown). Comparing a new listing with it
is a few NumPy operations, so re-adding a 50,000-file tree where 1% changed hashes that 1%, and
``status`` of an untouched tree (equal fingerprint) reads nothing else at all. A file rewritten
with the same size within the same nanosecond on the same inode would be missed, as git and DVC
would miss it.
"""

from __future__ import annotations

import json
import os
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

_VERSION = 1
_HEADER_LEN = struct.Struct("<I")
_DIGEST_HEX = 64


@dataclass
class Listing:
    """Every regular file under a root, sorted by relative path, as columns."""

    paths: list[str]
    sizes: npt.NDArray[np.uint64]
    mtimes: npt.NDArray[np.int64]
    inodes: npt.NDArray[np.uint64]
    modes: npt.NDArray[np.uint32]
    fingerprint: str
    """Digest of the whole listing: equal means no file was touched."""

    @classmethod
    def scan(cls, root: Path) -> Listing:
        """Lists ``root`` (a folder, or a single file) with the native parallel walker."""
        import numpy as np

        from aidot import _core

        paths, sizes, mtimes, inodes, modes, fingerprint = _core.scan_tree(str(root))
        return cls(
            paths,
            np.array(sizes, np.uint64),
            np.array(mtimes, np.int64),
            np.array(inodes, np.uint64),
            np.array(modes, np.uint32),
            fingerprint,
        )

    def __len__(self) -> int:
        return len(self.paths)


@dataclass
class TreeState:
    """A listing with the digest of each file (``""`` where unknown) and the manifest the
    tree matched (``""`` when it matched none)."""

    listing: Listing
    digests: list[str]
    manifest: str

    def known_digests(self, current: Listing) -> list[str]:
        """For each file of ``current``, its digest when its stat is unchanged, else ``""``."""
        import numpy as np

        old = self.listing
        n = len(current)
        if n == 0 or len(old) == 0:
            return [""] * n
        if current.paths == old.paths:
            index = np.arange(n)
            present = np.ones(n, bool)
        else:
            position = {path: i for i, path in enumerate(old.paths)}
            index = np.fromiter((position.get(p, -1) for p in current.paths), np.int64, n)
            present = index >= 0
            index = np.where(present, index, 0)
        same = (
            present
            & (current.sizes == old.sizes[index])
            & (current.mtimes == old.mtimes[index])
            & (current.inodes == old.inodes[index])
        )
        digests = self.digests
        return [
            digests[i] if ok else "" for i, ok in zip(index.tolist(), same.tolist(), strict=True)
        ]


class StatCache:
    """Tree states by root folder, one file each under ``folder``."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def load(self, root: Path) -> TreeState | None:
        """The state saved for ``root``, or ``None`` (also for an unreadable or foreign file:
        a cache may always be missing)."""
        import numpy as np

        try:
            data = self._path(root).read_bytes()
            (header_len,) = _HEADER_LEN.unpack_from(data)
            offset = _HEADER_LEN.size
            header = json.loads(data[offset : offset + header_len])
            if header["version"] != _VERSION or header["root"] != str(root):
                return None
            offset += header_len
            n, paths_len = header["files"], header["paths_bytes"]
            paths = data[offset : offset + paths_len].decode().split("\0") if n else []
            offset += paths_len
            hexes = data[offset : offset + _DIGEST_HEX * n].decode()
            offset += _DIGEST_HEX * n
            columns = []
            for dtype, width in (("<u8", 8), ("<i8", 8), ("<u8", 8), ("<u4", 4)):
                columns.append(np.frombuffer(data, dtype, n, offset))
                offset += width * n
        except (OSError, ValueError, KeyError, struct.error):
            return None
        digests = [
            hexes[i : i + _DIGEST_HEX].strip() for i in range(0, _DIGEST_HEX * n, _DIGEST_HEX)
        ]
        listing = Listing(
            paths,
            columns[0].astype(np.uint64),
            columns[1].astype(np.int64),
            columns[2].astype(np.uint64),
            columns[3].astype(np.uint32),
            header["fingerprint"],
        )
        return TreeState(listing, digests, header["manifest"])

    def save(self, root: Path, state: TreeState) -> None:
        """Replaces the state of ``root`` (atomically; a crash leaves the old one or none)."""
        listing = state.listing
        n = len(listing)
        paths = "\0".join(listing.paths).encode()  # the one byte no file name holds
        header = json.dumps(
            {
                "version": _VERSION,
                "root": str(root),
                "files": n,
                "paths_bytes": len(paths),
                "fingerprint": listing.fingerprint,
                "manifest": state.manifest,
            }
        ).encode()
        hexes = "".join(d or " " * _DIGEST_HEX for d in state.digests).encode()
        body = b"".join(
            (
                _HEADER_LEN.pack(len(header)),
                header,
                paths,
                hexes,
                listing.sizes.astype("<u8").tobytes(),
                listing.mtimes.astype("<i8").tobytes(),
                listing.inodes.astype("<u8").tobytes(),
                listing.modes.astype("<u4").tobytes(),
            )
        )
        path = self._path(root)
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        temporary.write_bytes(body)
        temporary.replace(path)

    def _path(self, root: Path) -> Path:
        from aidot.blobs import hash_bytes

        return self.folder / f"{hash_bytes(str(root).encode())[:32]}.state"
