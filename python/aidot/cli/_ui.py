"""``aidot ui``: the web UI for a workspace, served until interrupted."""

from __future__ import annotations

import contextlib
from pathlib import Path

import click

from aidot.cli._common import console, open_workspace, reports_errors, workspace_option
from aidot.errors import InvalidArgumentError


@click.command("ui")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind.")
@click.option("--port", default=5000, show_default=True, help="Port to bind (0: any free one).")
@click.option(
    "--token",
    envvar="AIDOT_UI_TOKEN",
    default=None,
    help="Accept writes (stages, aliases, tags) from other machines with "
    "'Authorization: Bearer TOKEN' [env: AIDOT_UI_TOKEN]; without it, only from loopback.",
)
@workspace_option
@reports_errors
def ui_command(host: str, port: int, token: str | None, workspace: Path | None) -> None:
    """Serve the web UI (runs, charts, studies, registry, datasets, serving metrics)."""
    try:
        import starlette  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError:
        raise InvalidArgumentError(
            "the web UI needs Starlette and uvicorn: pip install 'aidot[ui]'"
        ) from None
    from aidot.ui import serve_ui

    ws = open_workspace(workspace)
    shown = f"[{host}]" if ":" in host else host
    console.print(
        f"aidot UI for {ws.db_uri} on [bold]http://{shown}:{port}[/] (Ctrl-C to stop)"
        if port
        else f"aidot UI for {ws.db_uri} (Ctrl-C to stop)"
    )
    # uvicorn re-raises the Ctrl-C it handled; here that is the normal way to stop.
    with contextlib.suppress(KeyboardInterrupt):
        serve_ui(ws, host=host, port=port, token=token, block=True)
    console.print("stopped")
