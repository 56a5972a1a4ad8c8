"""Writing a version's files into a folder, all or nothing.

The files go into a sibling staging folder first (``.DEST.aidot-checkout-PID-ID``), which is
renamed into place once every file is written, so a checkout stopped half-way (a missing or
damaged blob, Ctrl-C) leaves the destination as it was. Over existing files (``force``) the
staged files are moved in one by one, after every folder on their way was checked not to be a
link out of the destination.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from aidot._ids import new_id
from aidot._paths import refuse_links_on_the_way
from aidot.data._manifest import FileEntry, check_relative
from aidot.errors import InvalidArgumentError

if TYPE_CHECKING:
    from aidot.blobs import BlobStore


def write_files(
    blobs: BlobStore,
    files: Mapping[str, FileEntry],
    dest: Path,
    *,
    link: bool,
    force: bool,
    verify: bool,
    progress: Callable[[int, int, int], object] | None,
) -> int:
    """Writes ``files`` (relative path -> entry) under ``dest``; returns how many."""
    if dest.exists() and not dest.is_dir():
        raise InvalidArgumentError(f"checkout destination {dest} is a file; name a folder")
    overwrite = dest.is_dir() and any(dest.iterdir())
    if overwrite and not force:
        raise InvalidArgumentError(
            f"checkout destination {dest} is not empty; pick an empty folder, or pass "
            "force=True (--force) to overwrite the version's files there"
        )
    final = dest.resolve()
    if overwrite:
        # What is already there may hold a link to a folder elsewhere.
        refuse_links_on_the_way(final, files)
    final.parent.mkdir(parents=True, exist_ok=True)
    staging = final.parent / f".{final.name}.aidot-checkout-{os.getpid()}-{new_id()}"
    staging.mkdir()
    # Manifest paths are checked relative paths (no "..", no absolute ones), so joining
    # keeps them inside root; resolving 50,000 paths one by one would cost seconds.
    items = [
        (entry.digest, f"{staging}/{check_relative(rel)}", None if link else entry.mode)
        for rel, entry in files.items()
    ]
    try:
        blobs._inner.export_many(items, link, verify, progress)
        if overwrite:
            _move_into(staging, final, files)
        elif final.exists():
            # Empty, and perhaps someone's working directory: kept, and the staged top-level
            # entries moved into it.
            for child in staging.iterdir():
                child.rename(final / child.name)
        else:
            staging.rename(final)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    return len(items)


def _move_into(staging: Path, final: Path, relatives: Iterable[str]) -> None:
    """Renames each staged file over its place in ``final`` (creating folders)."""
    made: set[Path] = set()
    for relative in relatives:
        target = final / relative
        if target.parent not in made:
            target.parent.mkdir(parents=True, exist_ok=True)
            made.add(target.parent)
        os.replace(staging / relative, target)
