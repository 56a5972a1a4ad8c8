"""What every command shares: the ``--workspace`` option, the console, error display."""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click
from rich.console import Console
from rich.text import Text

from aidot.errors import AidotError

F = TypeVar("F", bound=Callable[..., Any])

console = Console(highlight=False, soft_wrap=True)
err_console = Console(stderr=True, highlight=False, soft_wrap=True)


def workspace_option(func: F) -> F:
    """Adds ``--workspace DIR`` (else ``$AIDOT_HOME``, else ``./.aidot``)."""
    return click.option(
        "--workspace",
        "-w",
        "workspace",
        type=click.Path(file_okay=False, path_type=Path),
        default=None,
        help="Workspace folder [default: $AIDOT_HOME, else ./.aidot].",
    )(func)


def open_workspace(path: Path | None) -> Any:
    """The workspace named by ``--workspace`` or the environment."""
    from aidot.workspace import Workspace

    ws = Workspace(path if path is not None else workspace_default)
    context = click.get_current_context(silent=True)
    if context is not None:
        # Closed when the command ends: flushes metrics and releases database connections.
        context.call_on_close(ws.close)
    return ws


workspace_default: Path | None = None
"""Set by ``aidot --workspace DIR``: the folder a command without its own option opens."""

debug = False
"""Set by ``aidot --debug`` (or ``AIDOT_DEBUG=1``): errors show their Python traceback."""


def print_error(message: str) -> None:
    """``error: MESSAGE`` on one line of stderr (the message is not read as rich markup)."""
    err_console.print(Text.assemble(("error:", "bold red"), " ", " ".join(message.split())))


def reports_errors(func: F) -> F:
    """Shows aidot errors as one red line and exit status 1 instead of a traceback (unless
    ``--debug``)."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except AidotError as exc:
            if debug:
                raise
            print_error(str(exc))
            raise SystemExit(1) from None

    return wrapper  # type: ignore[return-value]


def utc_time(ms: int | None) -> str:
    """Milliseconds since the epoch as ``2026-11-26 17:05:06`` (UTC); ``-`` for none."""
    import datetime as dt

    if ms is None:
        return "-"
    return dt.datetime.fromtimestamp(ms / 1000, tz=dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S")


def human_bytes(n: float) -> str:
    """``1536`` -> ``"1.5 KiB"``."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    raise AssertionError("unreachable")
