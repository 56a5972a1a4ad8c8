"""Keeping writes inside their root: what checkout, download and artifact export share.

A relative path from a manifest or a database row is checked as a string first (no ``..``, not
absolute: ``check_relative`` in the data package, ``clean_artifact_path`` in tracking). That is
not enough when the destination already holds something: a symbolic link to a folder elsewhere
(``dest/images -> /etc``) would carry the write ``dest/images/x`` out of ``dest``. So before
writing into a folder that is not empty, every folder on the way to each file is checked not to
be a link. Each distinct folder is checked once, so 50,000 files in 500 folders cost 500
``lstat`` calls.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable
from pathlib import Path

from aidot.errors import InvalidArgumentError


def refuse_links_on_the_way(root: Path, relative_paths: Iterable[str]) -> None:
    """Raises :class:`~aidot.errors.InvalidArgumentError` naming the first symbolic link (or
    other non-folder) found among the existing parent folders of ``root / path``, so that no
    write through one leaves ``root``. Missing folders are fine: they will be created."""
    checked: set[str] = set()
    for relative in relative_paths:
        parent = relative.rpartition("/")[0]
        while parent and parent not in checked:
            checked.add(parent)
            where = os.path.join(root, parent)
            try:
                mode = os.lstat(where).st_mode
            except FileNotFoundError:
                parent = parent.rpartition("/")[0]
                continue
            if stat.S_ISLNK(mode):
                raise InvalidArgumentError(
                    f"{where} is a symbolic link, and writing through it would leave {root}; "
                    "remove it, or write into an empty folder"
                )
            if not stat.S_ISDIR(mode):
                raise InvalidArgumentError(
                    f"{where} is a file where the folder {parent!r} should be; remove it, or "
                    "write into an empty folder"
                )
            parent = parent.rpartition("/")[0]
