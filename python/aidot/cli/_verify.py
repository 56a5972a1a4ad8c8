"""``aidot verify``: check the whole workspace (database file, blobs, every reference)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from aidot.cli._common import console, err_console, open_workspace, reports_errors, workspace_option

if TYPE_CHECKING:
    from aidot._verify import WorkspaceReport


@click.command("verify")
@workspace_option
@reports_errors
def verify_command(workspace: Path | None) -> None:
    """Check the database file, re-hash every blob and resolve every reference (dataset
    versions, checkpoints, model versions, run artifacts); exit status 1 naming each owner
    whose content is missing or damaged."""
    ws = open_workspace(workspace)
    with console.status("checking the database and re-hashing blobs..."):
        report = ws.verify(every_blob=True)
    print_report(report)


def print_report(report: WorkspaceReport) -> None:
    """Prints what ``verify`` found, and exits with status 1 when anything is wrong."""
    for line in report.database:
        err_console.print(f"[red]database[/] {line}")
    if report.database:
        err_console.print(
            "the metadata database file is damaged: restore it from a backup, or recover what "
            "it holds with `sqlite3 aidot.db .recover`"
        )
    for problem in report.problems:
        err_console.print(f"[red]lost[/] {problem}")
    for digest, why in sorted(report.unreferenced_damaged.items()):
        err_console.print(f"[yellow]corrupt[/] {digest} (nothing references it): {why}")
    for pack, why in sorted(report.damaged_packs.items()):
        err_console.print(f"[red]damaged pack[/] {pack}: {why}; its files are kept as they are")
    if report.problems:
        owners = len({p.owner for p in report.problems})
        err_console.print(
            f"{len(report.problems):,} references of {owners:,} owners do not resolve to their "
            "content; restore it from a remote (`aidot data pull`) or re-create the owners"
        )
    if not report.ok or report.unreferenced_damaged or report.damaged_packs:
        raise SystemExit(1)
    console.print(
        f"[green]ok[/] database sound, {report.blobs_checked:,} blobs verified, "
        f"{report.references_checked:,} references resolve"
    )
