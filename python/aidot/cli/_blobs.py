"""``aidot blobs``: inspect and maintain the blob store."""

from __future__ import annotations

from pathlib import Path

import click
from rich.table import Table

from aidot.cli._common import (
    console,
    err_console,
    human_bytes,
    open_workspace,
    reports_errors,
    workspace_option,
)


@click.group("blobs")
def blobs_group() -> None:
    """Inspect and maintain the content-addressed blob store."""


@blobs_group.command("stats")
@workspace_option
@reports_errors
def stats_command(workspace: Path | None) -> None:
    """Show how many blobs and chunks are stored and the space they take."""
    ws = open_workspace(workspace)
    usage = ws.blobs.usage()
    referenced = len(ws.store.live_digests())
    table = Table(title=f"blob store {ws.blob_root}", show_header=False)
    table.add_row("blobs", f"{usage.blobs:,}")
    table.add_row("referenced by the workspace", f"{referenced:,}")
    # Why the two counts differ, so that a mismatch does not read as loss.
    if usage.blobs > referenced:
        table.add_row(
            "not referenced",
            f"{usage.blobs - referenced:,} (pruned checkpoints, deleted runs or versions, "
            "interrupted writes: `aidot blobs gc` removes them once older than its grace period)",
        )
    elif usage.blobs < referenced:
        table.add_row(
            "[red]referenced but not stored[/]",
            f"at most {referenced - usage.blobs:,}: run `aidot verify` to name their owners",
        )
    table.add_row("chunk files", f"{usage.chunks:,}")
    table.add_row("space used", human_bytes(usage.bytes))
    console.print(table)


@blobs_group.command("verify")
@click.argument("digest", required=False)
@workspace_option
@reports_errors
def verify_command(digest: str | None, workspace: Path | None) -> None:
    """Re-hash DIGEST, or every blob, and resolve every reference of the workspace to its
    content; exit status 1 naming each damaged blob and each owner whose content is lost."""
    from aidot.cli._verify import print_report

    ws = open_workspace(workspace)
    if digest is not None:
        with console.status("re-hashing the blob..."):
            report = ws.blobs.verify(digest)
        for bad, why in sorted(report.corrupt.items()):
            err_console.print(f"[red]corrupt[/] {bad}: {why}")
        if report.corrupt:
            raise SystemExit(1)
        console.print(f"[green]ok[/] {report.checked:,} blobs verified")
        return
    with console.status("re-hashing blobs and resolving references..."):
        report = ws.verify(every_blob=True)
    print_report(report)


@blobs_group.command("gc")
@click.option(
    "--grace",
    "grace_seconds",
    type=click.FloatRange(min=0),
    default=3600.0,
    show_default=True,
    help="Spare blobs written or reused within this many seconds (protects running writers).",
)
@click.option("--dry-run", is_flag=True, help="Only count what would be deleted.")
@workspace_option
@reports_errors
def gc_command(grace_seconds: float, dry_run: bool, workspace: Path | None) -> None:
    """Delete blobs that nothing in the workspace references any more."""
    ws = open_workspace(workspace)
    if dry_run:
        live = ws.store.live_digests()
        unreferenced = [d for d in ws.blobs if d not in live]
        size = sum(ws.blobs.stat(d).size for d in unreferenced)
        console.print(
            f"{len(unreferenced):,} unreferenced blobs ({human_bytes(size)} of content) "
            f"would be deleted if older than {grace_seconds:g} s"
        )
        return
    report = ws.gc(grace_seconds=grace_seconds)
    console.print(
        f"[green]gc done[/] removed {report.blobs_removed:,} blobs, "
        f"{report.chunks_removed:,} chunks and {report.temp_removed:,} leftover temporary "
        f"files, freeing {human_bytes(report.bytes_freed)}"
    )
