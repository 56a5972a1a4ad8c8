"""``aidot verify``: check the whole workspace (database file, blobs, every reference)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from aidot.cli._common import console, err_console, open_workspace, reports_errors, workspace_option

if TYPE_CHECKING:
    from aidot._verify import WorkspaceReport
    from aidot.blobs import VerifyReport


@click.command("verify")
@workspace_option
@reports_errors
def verify_command(workspace: Path | None) -> None:
    """Check the database file, re-hash every blob and resolve every reference (dataset
    versions, checkpoints, model versions, run artifacts); exit status 1 naming each owner
    whose content is missing or damaged."""
    ws = open_workspace(workspace)
    with console.status("checking the database and re-hashing blobs..."):
        report = ws.verify()
        blobs = ws.blobs.verify()
    print_report(report, blobs)


def print_report(report: WorkspaceReport, blobs: VerifyReport | None) -> None:
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
    referenced = {p.digest for p in report.problems}
    unreferenced = {} if blobs is None else blobs.corrupt
    for digest, why in sorted(unreferenced.items()):
        if digest not in referenced:
            err_console.print(f"[yellow]corrupt[/] {digest} (nothing references it): {why}")
    packs = {} if blobs is None else blobs.damaged_packs
    for pack, why in sorted(packs.items()):
        err_console.print(f"[red]damaged pack[/] {pack}: {why}; its files are kept as they are")
    if report.problems:
        owners = len({p.owner for p in report.problems})
        err_console.print(
            f"{len(report.problems):,} references of {owners:,} owners do not resolve to their "
            "content; restore it from a remote (`aidot data pull`) or re-create the owners"
        )
    if not report.ok or unreferenced or packs:
        raise SystemExit(1)
    checked = report.blobs_checked if blobs is None else blobs.checked
    console.print(
        f"[green]ok[/] database sound, {checked:,} blobs verified, "
        f"{report.references_checked:,} references resolve"
    )
