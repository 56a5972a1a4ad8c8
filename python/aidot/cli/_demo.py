"""``aidot demo``: the main job, showing what aidot does on generated data."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import click
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)
from rich.table import Table

from aidot.blobs import ProgressCallback
from aidot.cli._common import console, human_bytes, reports_errors


@click.command("demo")
@click.option(
    "--workspace",
    "-w",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Workspace folder to use and keep [default: a temporary folder].",
)
@click.option("--keep", is_flag=True, help="Keep the temporary workspace for `aidot ui` and co.")
@reports_errors
def demo_command(workspace: Path | None, keep: bool) -> None:
    """Version a generated dataset in the blob store and show what was stored and deduplicated."""
    from aidot import _demo
    from aidot.workspace import Workspace

    temporary = workspace is None
    home = workspace if workspace is not None else Path(tempfile.mkdtemp(prefix="aidot-demo-"))
    ws = Workspace(home).init()
    console.print(f"[bold]aidot demo[/] in workspace {ws.home}")
    try:
        with Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            DownloadColumn(binary_units=True),
            TransferSpeedColumn(),
            TimeRemainingColumn(),
            console=console,
        ) as bars:

            def progress_for(label: str) -> ProgressCallback:
                task = bars.add_task(f"storing {label}", total=None)

                def update(done: int, total: int, _files: int) -> None:
                    bars.update(task, completed=done, total=total or None)

                return update

            reports, training, serving = _demo.run(
                ws,
                _demo.default_data_folder(ws),
                step=lambda text: bars.console.print(f"[cyan]>[/] {text}"),
                progress_for=progress_for,
            )
        table = Table(title="dataset versions in the blob store")
        for column in ("version", "files", "content", "new bytes stored", "deduplicated", "time"):
            table.add_column(column, justify="right" if column != "version" else "left")
        for r in reports:
            table.add_row(
                r.name,
                f"{r.files:,}",
                human_bytes(r.content_bytes),
                human_bytes(r.bytes_written),
                f"{human_bytes(r.deduplicated_bytes)} "
                f"({100 * r.deduplicated_bytes / max(r.content_bytes, 1):.0f}%)",
                f"{r.seconds:.2f} s",
            )
        console.print(table)
        usage = ws.blobs.usage()
        console.print(
            f"store: {usage.blobs:,} blobs, {usage.chunks:,} chunks, "
            f"{human_bytes(usage.bytes)} on disk for "
            f"{human_bytes(sum(r.content_bytes for r in reports))} of versioned content"
        )
        console.print(
            f"embeddings.bin is blob {reports[-1].sample_digest} (what `b3sum` prints for it)"
        )
        console.print(
            f"trained on {training.rows:,} rows for {training.epochs} epochs: accuracy "
            f"{training.accuracy:.3f}, loss {training.final_loss:.4f} (run {training.run_id})"
        )
        console.print(
            f"registered as {training.model_uri} in Production; loaded back from the registry "
            f"it agrees with training on {100 * training.served_agreement:.1f}% of the rows"
        )
        console.print(
            f"served at {serving.url}: {serving.requests:,} requests from "
            f"{serving.connections} concurrent clients in {serving.seconds:.2f} s "
            f"({serving.requests / serving.seconds:,.0f} req/s), p50 {serving.p50_ms:.2f} ms, "
            f"p99 {serving.p99_ms:.2f} ms in the server, mean batch "
            f"{serving.batch_size_mean:.1f} rows, {serving.errors} errors, answers agree with "
            f"the model in-process on {100 * serving.agreement:.1f}% of the requests"
        )
        if temporary and not keep:
            console.print("[dim]workspace removed (use --keep or --workspace DIR to keep it)[/]")
        else:
            console.print(f"inspect it with: aidot blobs stats --workspace {ws.home}")
            console.print(f"  and: aidot runs show {training.run_id} --workspace {ws.home}")
    finally:
        ws.close()
        if temporary and not keep:
            shutil.rmtree(home, ignore_errors=True)
