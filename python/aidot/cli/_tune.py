"""``aidot tune`` and ``aidot studies``: tuning workers, and studies from the terminal."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from typing import Any

import click
from rich.table import Table

from aidot.cli._common import console, open_workspace, reports_errors, workspace_option
from aidot.errors import InvalidArgumentError, NotFoundError

SAMPLERS = ["auto", "tpe", "gp", "cmaes", "nsga2", "qmc", "random"]
"""The keys of ``samplers_by_name()`` (listed here so that ``--help`` imports no sampler)."""
PRUNERS = ["median", "asha", "hyperband", "none"]


@click.group("tune")
def tune_group() -> None:
    """Run hyperparameter-tuning workers."""


@tune_group.command("worker")
@click.argument("study_name", metavar="STUDY")
@click.option(
    "--module", "-m", "target", required=True, help="The objective, as package.module:function."
)
@click.option("--n-trials", type=int, default=None, help="Trials to run here [default: no limit].")
@click.option("--timeout", type=float, default=None, help="Seconds to run [default: no limit].")
@click.option("--n-jobs", type=int, default=1, show_default=True, help="Threads (-1: one per CPU).")
@click.option(
    "--direction",
    type=click.Choice(["minimize", "maximize"]),
    default=None,
    help="Create the study if it does not exist yet, with this direction.",
)
@click.option(
    "--sampler",
    type=click.Choice(SAMPLERS),
    default=None,
    help="[default: the kind the study was created with]",
)
@click.option("--pruner", type=click.Choice(PRUNERS), default=None)
@click.option("--seed", type=int, default=None, help="Seed of --sampler.")
@click.option("--catch", "catch_all", is_flag=True, help="Go on when the objective raises.")
@workspace_option
@reports_errors
def worker_command(
    study_name: str,
    target: str,
    n_trials: int | None,
    timeout: float | None,
    n_jobs: int,
    direction: str | None,
    sampler: str | None,
    pruner: str | None,
    seed: int | None,
    catch_all: bool,
    workspace: Path | None,
) -> None:
    """Run trials of STUDY with the objective in --module; start as many workers as you like,
    on this machine or on others sharing the workspace's database."""
    objective = _load_objective(target)
    ws = open_workspace(workspace)
    chosen = _sampler(sampler, seed)
    chosen_pruner = _pruner(pruner)
    if direction is not None:
        study = ws.create_study(
            study_name,
            direction=direction,
            sampler=chosen,
            pruner=chosen_pruner,
            load_if_exists=True,
        )
    else:
        study = ws.load_study(study_name, sampler=chosen, pruner=chosen_pruner)
    console.print(
        f"worker on study [bold]{study.study_name}[/] with {type(study.sampler).__name__}, "
        f"{type(study.pruner).__name__}"
    )
    study.optimize(
        objective,
        n_trials=n_trials,
        timeout=timeout,
        n_jobs=n_jobs,
        catch=(Exception,) if catch_all else (),
        show_progress_bar=sys.stderr.isatty(),
    )
    _summary(study)


@click.group("studies")
def studies_group() -> None:
    """Hyperparameter-tuning studies: list, inspect, plot, delete."""


@studies_group.command("ls")
@workspace_option
@reports_errors
def studies_ls(workspace: Path | None) -> None:
    """List studies with their trial counts and best value."""
    from aidot.tuning._storage import TrialStore

    ws = open_workspace(workspace)
    listed = TrialStore(ws.store).list_studies()
    if not listed:
        console.print("no studies yet; create one with aidot.create_study()")
        return
    table = Table("study", "goal", "trials", "complete", "pruned", "failed", "best")
    for record, counts in listed:
        best = "-"
        if len(record.directions) == 1 and counts.get("COMPLETE"):
            try:
                best = f"{ws.load_study(record.name).best_value:.6g}"
            except NotFoundError:
                best = "-"
        table.add_row(
            record.name,
            ",".join(d.value.lower()[:3] for d in record.directions),
            str(sum(counts.values())),
            str(counts.get("COMPLETE", 0)),
            str(counts.get("PRUNED", 0)),
            str(counts.get("FAIL", 0)),
            best,
        )
    console.print(table)


@studies_group.command("show")
@click.argument("name")
@click.option("--limit", default=20, show_default=True, help="Trials to list (best first).")
@workspace_option
@reports_errors
def studies_show(name: str, limit: int, workspace: Path | None) -> None:
    """A study: its best trial, then its trials (best first)."""
    study = open_workspace(workspace).load_study(name)
    _summary(study)
    trials = study.get_trials(deepcopy=False)
    multi = len(study.directions) > 1
    names = sorted({p for t in trials for p in t.params})
    table = Table("#", "state", "values" if multi else "value", *names, "duration")
    sign = -1.0 if (not multi and study.direction.value == "MAXIMIZE") else 1.0

    def order(t: Any) -> tuple[int, float]:
        if t.values is None or t.state.value != "COMPLETE":
            return (1, 0.0)
        return (0, sign * t.values[0])

    for t in sorted(trials, key=order)[:limit]:
        values = "-" if t.values is None else ", ".join(f"{v:.6g}" for v in t.values)
        duration = "-" if t.duration is None else f"{t.duration.total_seconds():.2f}s"
        table.add_row(
            str(t.number),
            t.state.value,
            values,
            *[_short(t.params.get(p, "")) for p in names],
            duration,
        )
    console.print(table)


@studies_group.command("plot")
@click.argument("name")
@click.option(
    "--kind",
    type=click.Choice(["history", "importance", "parallel", "slice", "contour"]),
    default="history",
    show_default=True,
)
@click.option("--params", default=None, help="Comma-separated parameters (contour: two).")
@click.option("--output", "-o", type=click.Path(dir_okay=False, path_type=Path), required=True)
@workspace_option
@reports_errors
def studies_plot(
    name: str, kind: str, params: str | None, output: Path, workspace: Path | None
) -> None:
    """Save a plot of study NAME as a PNG."""
    from aidot.tuning import plots

    study = open_workspace(workspace).load_study(name)
    chosen = params.split(",") if params else None
    if kind == "history":
        figure = plots.plot_optimization_history(study)
    elif kind == "importance":
        figure = plots.plot_param_importances(study, params=chosen)
    elif kind == "parallel":
        figure = plots.plot_parallel_coordinate(study, params=chosen)
    elif kind == "slice":
        figure = plots.plot_slice(study, params=chosen)
    else:
        figure = plots.plot_contour(study, params=chosen)
    plots.save(figure, output)
    console.print(f"[green]saved[/] {output}")


@studies_group.command("delete")
@click.argument("name")
@click.confirmation_option(prompt="Delete the study and its trials (their runs stay)?")
@workspace_option
@reports_errors
def studies_delete(name: str, workspace: Path | None) -> None:
    """Delete study NAME and its trials; the trials' tracking runs stay."""
    open_workspace(workspace).delete_study(name)
    console.print(f"deleted study {name}")


def _summary(study: Any) -> None:
    trials = study.get_trials(deepcopy=False)
    states: dict[str, int] = {}
    for t in trials:
        states[t.state.value] = states.get(t.state.value, 0) + 1
    counts = ", ".join(f"{n} {s.lower()}" for s, n in sorted(states.items())) or "no trials"
    console.print(f"[bold]{study.study_name}[/]: {counts}")
    if len(study.directions) > 1:
        console.print(f"Pareto front: {len(study.best_trials)} trials")
        return
    try:
        best = study.best_trial
    except NotFoundError:
        return
    params = ", ".join(f"{k}={_short(v)}" for k, v in best.params.items())
    console.print(f"best trial {best.number}: value {best.value:.6g} ({params})")


def _short(value: Any) -> str:
    return f"{value:.6g}" if isinstance(value, float) else str(value)


def _load_objective(target: str) -> Any:
    module_name, _, attribute = target.partition(":")
    if not module_name or not attribute:
        raise InvalidArgumentError(
            f"--module takes package.module:function, got {target!r} (e.g. train:objective)"
        )
    if "" not in sys.path:
        sys.path.insert(0, "")  # like python -m: modules in the current folder are found
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise InvalidArgumentError(f"cannot import {module_name!r}: {exc}") from None
    objective = getattr(module, attribute, None)
    if not callable(objective):
        raise InvalidArgumentError(f"{module_name} has no function {attribute!r}")
    return objective


def _sampler(name: str | None, seed: int | None) -> Any:
    from aidot.tuning._specs import samplers_by_name

    return None if name is None else samplers_by_name()[name](seed=seed)  # type: ignore[call-arg]


def _pruner(name: str | None) -> Any:
    from aidot.tuning._specs import pruners_by_name

    return None if name is None else pruners_by_name()[name]()
