"""``import aidot`` stays light: heavy dependencies load only when a component needs them."""

from __future__ import annotations

import subprocess
import sys

HEAVY = [
    "sqlalchemy",
    "alembic",
    "numpy",
    "scipy",
    "cmaes",
    "threadpoolctl",
    "rich",
    "click",
    "psycopg",
    "starlette",
    "uvicorn",
]


def test_import_aidot_loads_no_heavy_dependency() -> None:
    probe = f"import sys, aidot; print(sorted(m for m in {HEAVY!r} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_public_api_is_exported() -> None:
    import aidot

    for name in aidot.__all__:
        assert getattr(aidot, name) is not None
    assert aidot.__version__.count(".") == 2
