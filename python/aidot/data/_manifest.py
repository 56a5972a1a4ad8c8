"""A dataset version's manifest: relative path -> digest, size and mode, stored as one blob.

Paths are relative POSIX paths that stay inside the dataset root: no absolute paths, no ``..``
and no empty parts, checked when a manifest is built and again when one is read, so that a
damaged or forged manifest can never make a checkout write outside its destination.
"""

from __future__ import annotations

import json
import zlib
from dataclasses import dataclass
from pathlib import PurePosixPath

from aidot.errors import IntegrityError, InvalidArgumentError, SchemaVersionError

FORMAT = "aidot.dataset"
VERSION = 1


@dataclass(frozen=True)
class FileEntry:
    """One file of a dataset version."""

    digest: str
    size: int
    mode: int
    """Permission bits, restored on checkout (``0o644``...)."""


def check_relative(path: str) -> str:
    """``path`` if it is a clean relative path inside the dataset, else an error naming it."""
    pure = PurePosixPath(path)
    if (
        not path
        or pure.is_absolute()
        or "\\\\" in path
        or any(part in ("..", ".", "") for part in path.split("/"))
    ):
        raise InvalidArgumentError(
            f"dataset path {path!r} must be relative, inside the dataset root, without "
            "'..' or '.' parts"
        )
    return path


def encode(files: dict[str, FileEntry]) -> bytes:
    """The manifest blob for ``files`` (sorted by path, so equal trees give equal digests)."""
    rows = [[path, e.digest, e.size, e.mode] for path, e in sorted(files.items())]
    document = {"format": FORMAT, "version": VERSION, "files": rows}
    return zlib.compress(json.dumps(document, separators=(",", ":")).encode(), 1)


def decode(data: bytes, where: str) -> dict[str, FileEntry]:
    """The inverse of :func:`encode`; ``where`` names the version in errors."""
    try:
        document = json.loads(zlib.decompress(data))
    except (zlib.error, ValueError) as exc:
        raise IntegrityError(f"{where}: its manifest is damaged ({exc})") from exc
    if document.get("format") != FORMAT:
        raise IntegrityError(f"{where}: its manifest is not a dataset manifest")
    if document.get("version", 0) > VERSION:
        raise SchemaVersionError(
            f"{where} was written by a newer aidot (manifest version {document['version']}); "
            "upgrade aidot to read it"
        )
    files = {}
    for path, digest, size, mode in document["files"]:
        try:
            check_relative(path)
        except InvalidArgumentError as exc:
            raise IntegrityError(f"{where}: its manifest has an unsafe path ({exc})") from None
        files[path] = FileEntry(digest, int(size), int(mode))
    return files
