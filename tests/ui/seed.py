"""A workspace with something on every page of the UI: runs with curves, system metrics,
artifacts, checkpoints and input data; a registered model promoted through stages with an
alias and lineage; two dataset versions; a finished study. Built through the public API."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

import aidot
import aidot.tracking
import aidot.tuning
from aidot import CheckpointManager, Workspace


@dataclass(frozen=True)
class Seeded:
    best_run_id: str
    run_ids: list[str]
    experiment: str
    model: str
    study: str
    dataset: str


def seed_workspace(ws: Workspace, data_dir: Path) -> Seeded:
    data_dir.mkdir(parents=True, exist_ok=True)
    for i in range(30):
        (data_dir / f"part-{i:02d}.csv").write_text(f"x,y\n{i},{i * i}\n")
    ws.data.add(data_dir, "churn-data", "first export")
    (data_dir / "part-00.csv").write_text("x,y\n0,1\n")
    (data_dir / "part-30.csv").write_text("x,y\n30,900\n")
    (data_dir / "part-29.csv").unlink()
    data_v2 = ws.data.add(data_dir, "churn-data", "fixed row 0")

    run_ids = []
    for i, lr in enumerate((0.3, 0.1, 0.03)):
        with ws.tracker.start_run("churn", name=f"lr-{lr}") as run:
            run.log_params({"lr": lr, "depth": 4 + i, "optimizer": "adam" if i else "sgd"})
            run.log_input(data_v2)
            for step in range(300):
                loss = 1.0 / (1.0 + lr * step) + 0.02 * math.sin(step / 5)
                run.log_metrics({"loss": loss, "accuracy": 1.0 - loss / 2}, step=step)
                if step % 30 == 0:
                    run.log_metric("system/cpu_utilization_percentage", 40.0 + i + step / 30, step)
            run.log_text(f"lr={lr}\nnotes for run {i}\n", "notes/summary.txt")
            run.log_dict({"lr": lr, "layers": [64, 32]}, "config.json")
            if i == 0:
                _log_png(run)
            run_ids.append(run.id)
            if i == 2:
                checkpoints = CheckpointManager(
                    run, monitor="loss", mode="min", save_top_k=2, async_save=False
                )
                for step in (100, 200, 299):
                    checkpoints.save(
                        {"w": np.full((4, 4), step, dtype=np.float32)},
                        step=step,
                        metrics={"loss": 1.0 / (1.0 + lr * step)},
                    )
                best = checkpoints.get("best")
                first = ws.registry.create_model_version(
                    "churn-model", checkpoint=best, run=run, metrics={"auc": 0.91}
                )
    ws.registry.transition_stage("churn-model", first.version, "Staging")
    ws.registry.transition_stage("churn-model", first.version, "Production")
    ws.registry.set_alias("churn-model", "champion", first.version)
    ws.registry.create_model_version(
        "churn-model", path=data_dir / "part-00.csv", run=run_ids[0], metrics={"auc": 0.87}
    )

    study = ws.create_study(
        study_name="churn-tuning",
        direction="minimize",
        sampler=aidot.tuning.RandomSampler(seed=0),
    )
    study.optimize(_objective, n_trials=12)
    ws.tracker.flush()
    return Seeded(run_ids[2], run_ids, "churn", "churn-model", "churn-tuning", "churn-data")


def _objective(trial: aidot.tuning.Trial) -> float:
    x = trial.suggest_float("x", -4.0, 4.0)
    depth = trial.suggest_int("depth", 1, 8)
    kind = trial.suggest_categorical("kind", ["linear", "tree"])
    return (x - 1.0) ** 2 + 0.1 * depth + (0.5 if kind == "tree" else 0.0)


def _log_png(run: aidot.tracking.Run) -> None:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    figure = Figure(figsize=(3, 2))
    figure.add_subplot().plot([0, 1, 2], [2, 1, 3])
    run.log_figure(figure, "plots/curve.png")
