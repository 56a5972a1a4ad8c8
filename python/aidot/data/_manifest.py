"""A dataset version's manifest: relative path -> digest, size and mode, stored as one blob.

Paths are relative POSIX paths that stay inside the dataset root: no absolute paths, no ``..``
and no empty parts, checked when a manifest is built and again when one is read, so that a
damaged or forged manifest can never make a checkout write outside its destination.
"""

from __future__ import annotations

import json
import zlib
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
    if (
        not path
        or path[0] == "/"
        or "\\" in path
        or "//" in wrapped
        or "/./" in wrapped
        or "/../" in wrapped
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
    rows = document["files"]
    try:
        for row in rows:
            check_relative(row[0])
    except InvalidArgumentError as exc:
        raise IntegrityError(f"{where}: its manifest has an unsafe path ({exc})") from None
    make = FileEntry._make
    return {row[0]: make(row[1:]) for row in rows}
