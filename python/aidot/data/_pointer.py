"""Pointer files: a few lines of text naming a dataset version, committed to git like a
``.dvc`` file; ``aidot data checkout`` takes one in place of ``NAME@vN``."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from aidot.data._refs import check_name
from aidot.errors import InvalidArgumentError

if TYPE_CHECKING:
    from aidot.data._dvc import DatasetVersion

POINTER_SUFFIX = ".aidot"
"""``add(..., pointer=True)`` writes ``NAME.aidot`` beside the folder."""


def write_pointer(path: Path, version: DatasetVersion) -> None:
    """A few lines of text naming a version, for users who commit them to git like a
    ``.dvc`` file: ``aidot data checkout`` accepts the file in place of ``NAME@vN``."""
    text = (
        f"# aidot dataset pointer: aidot data checkout {path.name} DEST\n"
        f"dataset: {version.name}\n"
        f"version: {version.version}\n"
        f"manifest: {version.manifest}\n"
        f"files: {version.file_count}\n"
        f"bytes: {version.bytes}\n"
    )
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(text)
    temporary.replace(path)


def read_pointer(path: str | os.PathLike[str]) -> str:
    """The ``NAME@vN`` a pointer file names."""
    fields = {}
    try:
        text = Path(path).read_text()
    except UnicodeDecodeError:
        text = ""  # binary: not a pointer file, said below
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep and not key.startswith("#"):
            fields[key.strip()] = value.strip()
    try:
        return f"{check_name(fields['dataset'])}@v{int(fields['version'])}"
    except (KeyError, ValueError):
        raise InvalidArgumentError(
            f"{path} is not an aidot pointer file (it needs 'dataset:' and 'version:' lines)"
        ) from None
