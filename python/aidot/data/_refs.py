"""Naming a dataset version: ``NAME`` (the latest), ``NAME@v3`` or ``NAME@3``, ``NAME@TAG``."""

from __future__ import annotations

import re
from dataclasses import dataclass

from aidot import _names


@dataclass(frozen=True)
class VersionRef:
    name: str
    version: int | None = None
    tag: str | None = None


def check_name(name: str, what: str = "dataset name") -> str:
    return _names.check_name(name, what)


def parse(ref: str) -> VersionRef:
    """Splits ``NAME[@vN|@N|@TAG]``."""
    name, at, rest = ref.partition("@")
    check_name(name)
    if not at:
        return VersionRef(name)
    if re.fullmatch(r"v?[0-9]+", rest):
        return VersionRef(name, version=int(rest.lstrip("v")))
    return VersionRef(name, tag=check_name(rest, "tag"))
