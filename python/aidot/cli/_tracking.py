"""``aidot experiments`` and ``aidot runs``: look at tracked work from the terminal."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import click
from rich.table import Table

from aidot.cli._common import console, open_workspace, reports_errors, utc_time, workspace_option


def _number(value: float) -> str:
    return "nan" if math.isnan(value) else f"{value:.6g}"


_STATUS_STYLE = {
    "FINISHED": "green",
    "RUNNING": "cyan",
    "FAILED": "red",
    "KILLED": "yellow",
    "CRASHED": "magenta",
}


@click.group("experiments")
def experiments_group() -> None:
    """List tracked experiments."""


@experiments_group.command("ls")
@click.option("--all", "include_deleted", is_flag=True, help="Include deleted experiments.")
@workspace_option
@reports_errors
def experiments_ls(include_deleted: bool, workspace: Path | None) -> None:
    """List experiments with their number of runs."""
    ws = open_workspace(workspace)
    table = Table("name", "state", "created (UTC)", "runs")
    table.add_column("id", overflow="fold")
    for exp in ws.tracker.list_experiments(include_deleted=include_deleted):
        count = ws.tracker.count_runs(exp.id)
        table.add_row(exp.name, exp.lifecycle, utc_time(exp.created_at), f"{count:,}", exp.id)
    console.print(table)


@click.group("runs")
def runs_group() -> None:
    """List, show, compare, plot, delete and restore tracked runs."""


@runs_group.command("ls")
@click.option("--experiment", "-e", multiple=True, help="Experiment name or id (repeatable).")
@click.option("--filter", "filter_", default=None, help='e.g. "metrics.loss < 0.1".')
@click.option("--order-by", multiple=True, help='e.g. "metrics.loss ASC" (repeatable).')
@click.option("--max-results", default=50, show_default=True, type=click.IntRange(min=1))
@click.option("--all", "include_deleted", is_flag=True, help="Include deleted runs.")
@workspace_option
@reports_errors
def runs_ls(
    experiment: tuple[str, ...],
    filter_: str | None,
    order_by: tuple[str, ...],
    max_results: int,
    include_deleted: bool,
    workspace: Path | None,
) -> None:
    """List runs, filtered and ordered as in search_runs."""
    ws = open_workspace(workspace)
    found = ws.tracker.search_runs(
        list(experiment) or None,
        filter_,
        list(order_by) or None,
        max_results,
        include_deleted=include_deleted,
    )
    metric_keys = sorted({k for r in found for k in r.metrics})[:6]
    table = Table("name", "status", "started (UTC)", *metric_keys)
    table.add_column("id", overflow="fold")
    for run in found:
        style = _STATUS_STYLE.get(run.status.value, "")
        deleted = " (deleted)" if run.lifecycle == "deleted" else ""
        table.add_row(
            run.name + deleted,
            f"[{style}]{run.status.value}[/]",
            utc_time(run.start_time),
            *(_number(run.metrics[k]) if k in run.metrics else "-" for k in metric_keys),
            run.id,
        )
    console.print(table)


@runs_group.command("delete")
@click.argument("run_ids", nargs=-1, required=True)
@workspace_option
@reports_errors
def runs_delete(run_ids: tuple[str, ...], workspace: Path | None) -> None:
    """Hide runs from listings and searches (their data stays; 'runs restore' undoes it)."""
    ws = open_workspace(workspace)
    for run_id in run_ids:
        ws.tracker.delete_run(run_id)
        console.print(f"deleted run {run_id}")


@runs_group.command("restore")
@click.argument("run_ids", nargs=-1, required=True)
@workspace_option
@reports_errors
def runs_restore(run_ids: tuple[str, ...], workspace: Path | None) -> None:
    """Bring back deleted runs."""
    ws = open_workspace(workspace)
    for run_id in run_ids:
        ws.tracker.restore_run(run_id)
        console.print(f"restored run {run_id}")


@runs_group.command("show")
@click.argument("run_id")
@workspace_option
@reports_errors
def runs_show(run_id: str, workspace: Path | None) -> None:
    """Everything recorded about RUN_ID."""
    ws = open_workspace(workspace)
    run = ws.tracker.get_run(run_id)
    experiment = ws.tracker.get_experiment(run.experiment_id)
    deleted = " [red](deleted)[/]" if run.lifecycle == "deleted" else ""
    console.print(f"[bold]{run.name}[/] ({run.id}) in experiment {experiment.name}{deleted}")
    style = _STATUS_STYLE.get(run.status.value, "")
    console.print(
        f"status [{style}]{run.status.value}[/], started {utc_time(run.start_time)}, "
        f"ended {utc_time(run.end_time)}"
    )
    if run.parent_id:
        console.print(f"parent run {run.parent_id}")
    for title, values in (("params", run.params), ("tags", run.tags)):
        if values:
            table = Table(title=title, show_header=False)
            for key, value in sorted(values.items()):
                table.add_row(key, value)
            console.print(table)
    if run.metrics:
        table = Table("metric", "last", "points", title="metrics")
        for key, value in sorted(run.metrics.items()):
            points = ws.tracker.get_metric_history(run.id, key, max_points=1).total_points
            table.add_row(key, _number(value), f"{points:,}")
        console.print(table)
    artifacts = ws.tracker.list_artifacts(run.id)
    if artifacts:
        table = Table("artifact", "size", "digest", title="artifacts")
        for a in artifacts:
            table.add_row(a.path, f"{a.size:,}", a.digest[:16])
        console.print(table)
    _print_inputs_and_checkpoints(ws, run.id)
    context = run.context
    commit = context.get("git_commit")
    if commit:
        dirty = " (uncommitted changes)" if context.get("git_dirty") else ""
        console.print(f"git {commit}{dirty}")
    console.print(
        f"ran on {context.get('hostname')} with Python {context.get('python')}: "
        f"{' '.join(context.get('command', []))}"
    )


def _print_inputs_and_checkpoints(ws: Any, run_id: str) -> None:
    """The dataset versions a run used and the checkpoints it kept."""
    inputs = ws.data.used_by(run_id)
    if inputs:
        table = Table("dataset version", "files", "size", title="inputs")
        for v in inputs:
            table.add_row(v.ref, f"{v.file_count:,}", f"{v.bytes:,}")
        console.print(table)
    checkpoints = ws.tracker.list_checkpoints(run_id)
    if checkpoints:
        table = Table("step", "epoch", "metrics", "size", "id", title="checkpoints")
        for c in checkpoints:
            metrics = ", ".join(f"{k}={_number(v)}" for k, v in sorted(c.metrics.items()))
            table.add_row(
                "" if c.step is None else str(c.step),
                "" if c.epoch is None else str(c.epoch),
                metrics,
                f"{c.size:,}",
                c.id,
            )
        console.print(table)


@runs_group.command("compare")
@click.argument("run_ids", nargs=-1, required=True)
@workspace_option
@reports_errors
def runs_compare(run_ids: tuple[str, ...], workspace: Path | None) -> None:
    """Params and latest metrics of several runs side by side; differences in bold."""
    ws = open_workspace(workspace)
    runs = [ws.tracker.get_run(r) for r in run_ids]
    table = Table("", *(f"{r.name}\n{r.id[-8:]}" for r in runs))
    rows: list[tuple[str, list[str]]] = []
    for key in sorted({k for r in runs for k in r.params}):
        rows.append((f"params.{key}", [r.params.get(key, "-") for r in runs]))
    for key in sorted({k for r in runs for k in r.metrics}):
        values = [_number(r.metrics[key]) if key in r.metrics else "-" for r in runs]
        rows.append((f"metrics.{key}", values))
    for name, values in rows:
        differs = len(set(values)) > 1
        table.add_row(name, *(f"[bold]{v}[/]" if differs else v for v in values))
    console.print(table)


@runs_group.command("plot")
@click.argument("run_ids", nargs=-1, required=True)
@click.option("--metric", "-m", required=True, help="Metric to plot.")
@click.option("--output", "-o", type=click.Path(dir_okay=False, path_type=Path), required=True)
@click.option("--max-points", default=2000, show_default=True, type=click.IntRange(min=10))
@workspace_option
@reports_errors
def runs_plot(
    run_ids: tuple[str, ...], metric: str, output: Path, max_points: int, workspace: Path | None
) -> None:
    """Overlay METRIC of several runs in one chart (PNG, SVG or PDF by the file name)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise click.ClickException("plotting needs matplotlib: pip install matplotlib") from None
    ws = open_workspace(workspace)
    figure, axes = plt.subplots(figsize=(8, 4.5))
    for run_id in run_ids:
        run = ws.tracker.get_run(run_id)
        history = ws.tracker.get_metric_history(run_id, metric, max_points=max_points)
        line: Any = axes.plot(history.steps, history.values, label=run.name)[0]
        if history.mins is not None and history.maxs is not None:
            axes.fill_between(
                history.steps, history.mins, history.maxs, alpha=0.2, color=line.get_color()
            )
    axes.set_xlabel("step")
    axes.set_ylabel(metric)
    axes.legend()
    axes.grid(alpha=0.3)
    figure.tight_layout()
    figure.savefig(output)
    plt.close(figure)
    console.print(f"wrote {output}")
