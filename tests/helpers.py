"""Small helpers for tests."""

from __future__ import annotations

import contextlib
import os
import random
from collections.abc import Iterator
from pathlib import Path


def noise(n: int, seed: int = 0) -> bytes:
    """Deterministic incompressible bytes."""
    return random.Random(seed).randbytes(n)


def make_files(folder: Path, count: int, size: int, seed: int = 0) -> list[Path]:
    """``count`` distinct files of ``size`` bytes under ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(count):
        path = folder / f"f{i:05d}.bin"
        path.write_bytes(noise(size, seed * 1_000_003 + i))
        paths.append(path)
    return paths


@contextlib.contextmanager
def unreadable(path: Path) -> Iterator[None]:
    """Makes ``path`` unreadable for the block. Root reads anything, so under root the block
    also runs with the effective uid of ``nobody``, for whom the permission bits apply."""
    mode = path.stat().st_mode
    path.chmod(0)
    as_root = hasattr(os, "geteuid") and os.geteuid() == 0
    try:
        if as_root:
            os.seteuid(65534)
        yield
    finally:
        if as_root:
            os.seteuid(0)
        path.chmod(mode)
