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


def stamp_newer_schema(db_uri: str) -> None:
    """Makes the database at ``db_uri`` look written by a newer aidot (an unknown revision)."""
    import sqlalchemy as sa

    from aidot.store import MetadataStore, normalize_uri
    from aidot.store._schema import VERSION_TABLE

    MetadataStore(db_uri).close()
    engine = sa.create_engine(normalize_uri(db_uri))
    with engine.begin() as conn:
        conn.execute(sa.text(f"UPDATE {VERSION_TABLE} SET version_num = '9999'"))
    engine.dispose()


def schemathesis_run(openapi_url: str, cwd: Path, *options: str) -> tuple[int, str]:
    """Runs schemathesis against a live OpenAPI document, checking only that no generated
    request gets a 5xx; returns its exit status and the end of its output."""
    import shutil
    import subprocess
    import sys

    executable = shutil.which("schemathesis") or str(Path(sys.executable).parent / "schemathesis")
    if not Path(executable).exists():
        import pytest

        pytest.fail("schemathesis is missing: pip install -e '.[test]'")
    result = subprocess.run(
        [
            executable,
            "run",
            openapi_url,
            "--checks",
            "not_a_server_error",
            "--seed",
            "1",
            "--no-color",
            *options,
        ],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    return result.returncode, result.stdout[-6000:] + result.stderr[-2000:]


def numbers_from_processes(script: str, argvs: list[list[str]], timeout: float = 180) -> list[int]:
    """Runs ``script`` in one process per argument list, all at once; each prints the numbers
    it was given, comma-separated. Returns them all (a process that fails fails the test)."""
    import subprocess
    import sys
    import textwrap

    code = textwrap.dedent(script)
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", code, *argv],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for argv in argvs
    ]
    numbers = []
    for proc in procs:
        out, err = proc.communicate(timeout=timeout)
        assert proc.returncode == 0, err
        numbers += [int(n) for n in out.strip().split(",")]
    return numbers
