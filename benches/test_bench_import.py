"""`import aidot` must take under 150 ms; compared with starting Python alone."""

from __future__ import annotations

import subprocess
import sys

from .conftest import Comparison, record, timed


def run(code: str) -> None:
    subprocess.run([sys.executable, "-c", code], check=True)


def test_import_time() -> None:
    bare = timed(lambda: run("pass"), None, rounds=15)
    with_aidot = timed(lambda: run("import aidot"), None, rounds=15)
    import_s = with_aidot - bare
    record(
        Comparison(
            "import aidot (beyond interpreter start)",
            import_s,
            "python -c pass",
            bare,
            "< 150 ms",
            note=f"({import_s * 1000:.0f} ms)",
        )
    )
    assert import_s < 0.150
