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
    ProgressColumn,
    Task,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)
from rich.table import Table
from rich.text import Text

from aidot.blobs import ProgressCallback
from aidot.cli._common import console, human_bytes, reports_errors

TRIALS = 20


class _AmountColumn(ProgressColumn):
    """Bytes and their rate for the blob store's bars, a count for the tuning bar
    (``unit="trials"``)."""

    def __init__(self) -> None:
        super().__init__()
        self._bytes = DownloadColumn(binary_units=True)
        self._speed = TransferSpeedColumn()

    def render(self, task: Task) -> Text:
        unit = task.fields.get("unit")
        if unit is None:
            return Text.assemble(self._bytes.render(task), " ", self._speed.render(task))
        return Text(f"{int(task.completed)}/{int(task.total or 0)} {unit}")


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
    """The whole lifecycle on generated data: version a dataset, tune and track a model,
    register and promote the best, serve it and load-test it."""
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
            _AmountColumn(),
            TimeRemainingColumn(),
            console=console,
        ) as bars:

            def progress_for(label: str) -> ProgressCallback:
                task = bars.add_task(f"storing {label}", total=None)

                def update(done: int, total: int, _files: int) -> None:
                    bars.update(task, completed=done, total=total or None)

                return update

            trial_task: list[TaskID] = []

            def on_trial(number: int, state: str, value: float | None) -> None:
                if not trial_task:
                    trial_task.append(bars.add_task("tuning", total=TRIALS, unit="trials"))
                shown = f"val accuracy {value:.4f}" if value is not None else state.lower()
                bars.update(trial_task[0], advance=1, description=f"trial {number}: {shown}")

            reports, training, serving = _demo.run(
                ws,
                _demo.default_data_folder(ws),
                step=lambda text: bars.console.print(f"[cyan]>[/] {text}"),
                progress_for=progress_for,
                on_trial=on_trial,
                trials=TRIALS,
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
        params = ", ".join(f"{k}={v:.3g}" for k, v in sorted(training.best_params.items()))
        console.print(
            f"study {training.study}: {training.trials} trials on {training.rows:,} rows "
            f"({training.pruned} pruned early); best validation accuracy "
            f"{training.accuracy:.4f} with {params} (run {training.best_run_id})"
        )
        console.print(
            f"registered as {training.model_uri} with its lineage (demo@v2 -> the trial's run) "
            f"and promoted to Production; loaded back from the registry it agrees with the "
            f"trial's weights on {100 * training.served_agreement:.1f}% of the rows"
        )
        console.print(
            f"served at {serving.url}: {serving.requests:,} requests from "
            f"{serving.connections} concurrent clients in {serving.seconds:.2f} s "
            f"({serving.requests / serving.seconds:,.0f} req/s), latency in the server "
            f"p50 {serving.p50_ms:.2f} ms, p95 {serving.p95_ms:.2f} ms, p99 "
            f"{serving.p99_ms:.2f} ms; mean batch {serving.batch_size_mean:.1f} rows "
            f"({100 * serving.batch_utilization:.1f}% of the largest allowed), "
            f"{serving.errors} errors; answers agree with the model in-process on "
            f"{100 * serving.agreement:.1f}% of the requests"
        )
        if temporary and not keep:
            console.print(
                "[dim]workspace removed: run with --keep (or --workspace DIR) to keep it and "
                "look at it with aidot ui[/]"
            )
        else:
            console.print(
                f"look at it in a browser: aidot ui --workspace {ws.home} "
                "(pip install 'aidot\\[ui]'), then open http://127.0.0.1:5000"
            )
            console.print(f"or: aidot studies show {training.study} --workspace {ws.home}")
    finally:
        ws.close()
        if temporary and not keep:
            shutil.rmtree(home, ignore_errors=True)
