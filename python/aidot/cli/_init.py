"""``aidot init``: create a workspace."""

from __future__ import annotations

from pathlib import Path

import click

from aidot.cli._common import console, reports_errors, workspace_option


@click.command("init")
@click.argument("path", required=False, type=click.Path(file_okay=False, path_type=Path))
@workspace_option
@reports_errors
def init_command(path: Path | None, workspace: Path | None) -> None:
    """Create a workspace at PATH, or check an existing one.

    PATH (or --workspace) defaults to $AIDOT_HOME, else ./.aidot.
    """
    from aidot.workspace import Workspace

    ws = Workspace(path or workspace).init()
    info = ws.store.info()
    console.print(f"[green]workspace ready[/] {ws.home}")
    console.print(f"  id        {info['workspace_id']}")
    console.print(f"  database  {ws.store.display_uri} (schema {ws.store.revision})")
    console.print(f"  blobs     {ws.blob_root}")
    ws.close()
