"""What a run records about where it ran: code version, command line, host, interpreter."""

from __future__ import annotations

import getpass
import os
import platform
import socket
import subprocess
import sys
import time
from typing import Any

# Packages whose versions matter for reproducing a result; recorded only when the training
# process has already imported them, so capturing context never imports anything heavy.
_WATCHED_PACKAGES = (
    "numpy",
    "pandas",
    "scipy",
    "sklearn",
    "torch",
    "tensorflow",
    "jax",
    "lightgbm",
    "xgboost",
    "transformers",
)


def capture_context() -> dict[str, Any]:
    """The environment of the current process, as JSON-ready values."""
    from aidot import __version__

    context: dict[str, Any] = {
        "command": [sys.executable, *sys.argv],
        "cwd": os.getcwd(),
        "hostname": socket.gethostname(),
        "user": _user(),
        "pid": os.getpid(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "aidot": __version__,
        "packages": {
            name: str(getattr(sys.modules[name], "__version__", "unknown"))
            for name in _WATCHED_PACKAGES
            if name in sys.modules
        },
    }
    context.update(_git())
    return context


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


_GIT_CACHE_S = 60.0
_git_cache: dict[str, tuple[float, dict[str, Any]]] = {}


def _git() -> dict[str, Any]:
    """Commit and dirty flag of the git checkout holding the working directory, if any.

    Two ``git`` calls cost about 10 ms, which a tuning study starting hundreds of trial runs
    would pay each time; the answer is kept for a minute per working directory.
    """
    cwd = os.getcwd()
    cached = _git_cache.get(cwd)
    now = time.monotonic()
    if cached is not None and now - cached[0] < _GIT_CACHE_S:
        return dict(cached[1])
    found = _ask_git()
    _git_cache[cwd] = (now, found)
    return dict(found)


def _ask_git() -> dict[str, Any]:

    def git(*args: str) -> str | None:
        try:
            out = subprocess.run(
                ["git", *args],
                capture_output=True,
                text=True,
                timeout=5,
                check=True,
            )
        except (OSError, subprocess.SubprocessError):
            return None
        return out.stdout.strip()

    commit = git("rev-parse", "HEAD")
    if not commit:
        return {}
    status = git("status", "--porcelain", "--untracked-files=no")
    return {"git_commit": commit, "git_dirty": bool(status)}
