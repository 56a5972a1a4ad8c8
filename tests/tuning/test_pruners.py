"""Pruners: hopeless trials stop early; promising ones go on."""

from __future__ import annotations

import pytest

from aidot import TrainingMonitor, Workspace
from aidot.errors import InvalidArgumentError
from aidot.tuning import (
    HyperbandPruner,
    MedianPruner,
    NopPruner,
    PercentilePruner,
    PruningCallback,
    RandomSampler,
    SuccessiveHalvingPruner,
    ThresholdPruner,
    Trial,
    TrialPruned,
    TrialState,
)

EPOCHS = 27


def learning_curve(trial: Trial) -> float:
    """A loss curve whose level is set by ``quality``: bad trials are bad from the start."""
    quality = trial.suggest_float("quality", 0.0, 1.0)
    loss = 0.0
    for epoch in range(EPOCHS):
        loss = quality + 1.0 / (epoch + 1)
        trial.report(loss, epoch)
        if trial.should_prune():
            raise TrialPruned()
    return loss


@pytest.mark.parametrize(
    "pruner",
    [
        MedianPruner(n_startup_trials=5),
        PercentilePruner(25.0, n_startup_trials=5),
        SuccessiveHalvingPruner(min_resource=1, reduction_factor=3),
        HyperbandPruner(min_resource=1, max_resource=EPOCHS, reduction_factor=3),
    ],
    ids=["median", "percentile", "asha", "hyperband"],
)
def test_pruners_stop_bad_trials_and_keep_the_best(workspace: Workspace, pruner: object) -> None:
    study = workspace.create_study(
        type(pruner).__name__, sampler=RandomSampler(seed=0), pruner=pruner
    )  # type: ignore[arg-type]
    study.optimize(learning_curve, n_trials=40)
    pruned = [t for t in study.trials if t.state is TrialState.PRUNED]
    complete = [t for t in study.trials if t.state is TrialState.COMPLETE]
    assert len(pruned) >= 10
    assert all(t.last_step is not None and t.last_step < EPOCHS - 1 for t in pruned)
    # Pruning never loses the best configuration: the best complete trial beats every
    # pruned one on the quality it was pruned for.
    best_quality = study.best_params["quality"]
    assert best_quality <= min(t.params["quality"] for t in pruned) + 0.1
    assert len(complete) >= 3


def test_nop_pruner_never_prunes(workspace: Workspace) -> None:
    study = workspace.create_study("nop", sampler=RandomSampler(seed=0), pruner=NopPruner())
    study.optimize(learning_curve, n_trials=8)
    assert all(t.state is TrialState.COMPLETE for t in study.trials)


def test_threshold_pruner_prunes_out_of_bounds_and_nan(workspace: Workspace) -> None:
    study = workspace.create_study("threshold", pruner=ThresholdPruner(upper=1.0))
    trial = study.ask()
    trial.report(0.5, 0)
    assert not trial.should_prune()
    trial.report(2.0, 1)
    assert trial.should_prune()
    other = study.ask()
    other.report(float("nan"), 0)
    assert other.should_prune()
    with pytest.raises(InvalidArgumentError, match="lower"):
        ThresholdPruner()


def test_asha_records_rungs_for_other_workers(workspace: Workspace) -> None:
    study = workspace.create_study(
        "rungs", sampler=RandomSampler(seed=0), pruner=SuccessiveHalvingPruner(min_resource=1)
    )
    study.optimize(learning_curve, n_trials=10)
    assert any("completed_rung_0" in t.system_attrs for t in study.trials)


def test_bad_pruner_arguments_are_refused() -> None:
    with pytest.raises(InvalidArgumentError, match="percentile"):
        PercentilePruner(150.0)
    with pytest.raises(InvalidArgumentError, match="reduction_factor"):
        SuccessiveHalvingPruner(reduction_factor=1)
    with pytest.raises(InvalidArgumentError, match="max_resource"):
        HyperbandPruner(min_resource=5, max_resource=2)


def test_a_monitored_training_loop_prunes_itself(workspace: Workspace) -> None:
    def objective(trial: Trial) -> float:
        quality = trial.suggest_float("quality", 0.0, 1.0)
        callback = PruningCallback(trial, monitor="val_loss")
        loss = 0.0
        with TrainingMonitor(
            trial.run, callbacks=[callback], system_metrics=False, progress=False
        ) as monitor:
            for epoch in monitor.epochs(10):
                loss = quality + 1.0 / (epoch + 1)
                monitor.on_epoch_end(val_loss=loss)
        return loss

    study = workspace.create_study(
        "monitored", sampler=RandomSampler(seed=0), pruner=MedianPruner(n_startup_trials=3)
    )
    study.optimize(objective, n_trials=15)
    pruned = [t for t in study.trials if t.state is TrialState.PRUNED]
    assert pruned
    assert all(len(t.intermediate_values) < 10 for t in pruned)
    workspace.tracker.flush()
    run = workspace.tracker.get_run(pruned[0].run_id)  # type: ignore[arg-type]
    assert run.tags["monitor.stop_reason"].startswith("pruned at epoch")


def test_the_callback_needs_its_metric(workspace: Workspace) -> None:
    study = workspace.create_study("needs-metric")

    def objective(trial: Trial) -> float:
        with TrainingMonitor(
            trial.run, callbacks=[PruningCallback(trial)], system_metrics=False, progress=False
        ) as m:
            for _ in m.epochs(1):
                m.on_epoch_end(accuracy=0.5)
        return 0.0

    with pytest.raises(InvalidArgumentError, match="val_loss"):
        study.optimize(objective, n_trials=1)
