"""A dataset version's manifest: relative path -> digest, size and mode, stored as one blob.

Paths are relative POSIX paths that stay inside the dataset root: no absolute paths, no ``..``
and no empty parts, checked when a manifest is built and again when one is read, so that a
damaged or forged manifest can never make a checkout write outside its destination.
"""

from __future__ import annotations

import json
import zlib
from dataclasses import dataclass
from typing import NamedTuple

from aidot.errors import IntegrityError, InvalidArgumentError, SchemaVersionError

FORMAT = "aidot.dataset"
VERSION = 1


class FileEntry(NamedTuple):
    """One file of a dataset version (a named tuple: manifests hold 50,000 of them)."""

    digest: str
    size: int
    mode: int
    """Permission bits, restored on checkout (``0o644``...)."""


def check_relative(path: str) -> str:
    """``path`` if it is a clean relative path inside the dataset, else an error naming it.

    String tests only: this runs once per file of a manifest, 50,000 times for a large one.
    """
    wrapped = f"/{path}/"
    if "\\" in path:
        raise InvalidArgumentError(
            f"file {path!r} has a backslash in its name, which is a folder separator on "
            "Windows, so the version could not be checked out there as it is; rename the file"
        )
    if not path or path[0] == "/" or "//" in wrapped or "/./" in wrapped or "/../" in wrapped:
        raise InvalidArgumentError(
            f"dataset path {path!r} must be relative, inside the dataset root, without "
            "'..' or '.' parts"
        )
    return path


@dataclass
class Columns:
    """A version's files as parallel lists sorted by path: how manifests are built and stored
    (50,000 files make 50,000 tuples otherwise, for nothing)."""

    paths: list[str]
    digests: list[str]
    sizes: list[int]
    modes: list[int]

    @classmethod
    def of(cls, files: dict[str, FileEntry]) -> Columns:
        ordered = sorted(files.items())
        return cls(
            [p for p, _ in ordered],
            [e.digest for _, e in ordered],
            [e.size for _, e in ordered],
            [e.mode for _, e in ordered],
        )

    def entries(self) -> dict[str, FileEntry]:
        entries = map(FileEntry, self.digests, self.sizes, self.modes)
        return dict(zip(self.paths, entries, strict=True))


def encode(columns: Columns) -> bytes:
    """The manifest blob (paths sorted, so equal trees give equal digests)."""
    document = {
        "format": FORMAT,
        "version": VERSION,
        "paths": columns.paths,
        "digests": "".join(columns.digests),
        "sizes": columns.sizes,
        "modes": columns.modes,
    }
    return zlib.compress(json.dumps(document, separators=(",", ":")).encode(), 1)


def decode(data: bytes, where: str) -> dict[str, FileEntry]:
    """The inverse of :func:`encode`; ``where`` names the version in errors."""
    try:
        document = json.loads(zlib.decompress(data))
    except (zlib.error, ValueError) as exc:
        raise IntegrityError(f"{where}: its manifest is damaged ({exc})") from exc
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise IntegrityError(f"{where}: its manifest is not a dataset manifest")
    if document.get("version", 0) > VERSION:
        raise SchemaVersionError(
            f"{where} was written by a newer aidot (manifest version {document['version']}); "
            "upgrade aidot to read it"
        )
    try:
        paths, hexes = document["paths"], document["digests"]
        sizes, modes = document["sizes"], document["modes"]
        n = len(paths)
        if not (len(hexes) == 64 * n and len(sizes) == n and len(modes) == n):
            raise ValueError("its columns differ in length")
        for path in paths:
            check_relative(path)
    except InvalidArgumentError as exc:
        raise IntegrityError(f"{where}: its manifest has an unsafe path ({exc})") from None
    except (KeyError, TypeError, ValueError) as exc:
        raise IntegrityError(f"{where}: its manifest is damaged ({exc})") from None
    digests = [hexes[i : i + 64] for i in range(0, 64 * n, 64)]
    return Columns(paths, digests, sizes, modes).entries()
