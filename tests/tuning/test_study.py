"""Studies: optimize, ask and tell, warm starts, best trials, failures, tracking."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

import aidot
from aidot import Workspace
from aidot.errors import (
    AlreadyExistsError,
    DistributionConflictError,
    InvalidArgumentError,
    InvalidDistributionError,
    NotFoundError,
    TrialFinishedError,
)
from aidot.tuning import (
    FloatDistribution,
    RandomSampler,
    StudyDirection,
    TPESampler,
    Trial,
    TrialPruned,
    TrialState,
)


def quadratic(trial: Trial) -> float:
    x = trial.suggest_float("x", -10, 10)
    y = trial.suggest_int("y", -5, 5)
    return (x - 2) ** 2 + (y + 1) ** 2


def test_optimize_finds_a_good_point_and_remembers_it(workspace: Workspace) -> None:
    study = workspace.create_study("quad", sampler=TPESampler(seed=0))
    study.optimize(quadratic, n_trials=40)
    assert len(study.trials) == 40
    assert all(t.state is TrialState.COMPLETE for t in study.trials)
    assert study.best_value < 1.0
    assert set(study.best_params) == {"x", "y"}
    assert study.best_trial.value == study.best_value
    assert study.direction is StudyDirection.MINIMIZE
    # Another workspace object on the same folder (another process, later) sees it all.
    with Workspace(workspace.home) as again:
        loaded = again.load_study("quad")
        assert [t.number for t in loaded.trials] == list(range(40))
        assert loaded.best_params == study.best_params


def test_maximize_picks_the_largest_value(workspace: Workspace) -> None:
    study = workspace.create_study(direction="maximize", sampler=RandomSampler(seed=1))
    study.optimize(lambda t: -quadratic(t), n_trials=20)
    assert study.best_value == max(t.value for t in study.trials if t.value is not None)


def test_ask_and_tell(workspace: Workspace) -> None:
    study = workspace.create_study("asktell", sampler=RandomSampler(seed=3))
    for _ in range(5):
        trial = study.ask()
        study.tell(trial, quadratic(trial))
    trial = study.ask({"lr": FloatDistribution(1e-4, 1.0, log=True)})
    assert 1e-4 <= trial.params["lr"] <= 1.0
    frozen = study.tell(trial.number, 1.5)
    assert frozen.state is TrialState.COMPLETE
    assert frozen.params["lr"] == trial.params["lr"]
    with pytest.raises(TrialFinishedError):
        study.tell(trial, 2.0)
    assert study.tell(trial, 2.0, skip_if_finished=True).value == 1.5
    assert study.trials[-1].value == 1.5  # the finished trial was not changed


def test_enqueued_trials_run_first_with_their_params(workspace: Workspace) -> None:
    study = workspace.create_study("warm", sampler=RandomSampler(seed=0))
    study.enqueue_trial({"x": 2.0, "y": -1}, user_attrs={"source": "expert"})
    study.enqueue_trial({"x": 2.0, "y": -1}, skip_if_exists=True)  # same params: skipped
    study.optimize(quadratic, n_trials=3)
    first = study.trials[0]
    assert first.params == {"x": 2.0, "y": -1}
    assert first.value == 0.0
    assert first.user_attrs == {"source": "expert"}
    assert len(study.trials) == 3


def test_define_by_run_conditional_parameters(workspace: Workspace) -> None:
    def objective(trial: Trial) -> float:
        kind = trial.suggest_categorical("kind", ["svm", "tree"])
        if kind == "svm":
            return trial.suggest_float("C", 1e-3, 1e3, log=True)
        return float(trial.suggest_int("depth", 1, 10))

    study = workspace.create_study("cond", sampler=TPESampler(seed=0, n_startup_trials=5))
    study.optimize(objective, n_trials=30)
    for t in study.trials:
        expected = {"kind", "C"} if t.params["kind"] == "svm" else {"kind", "depth"}
        assert set(t.params) == expected


def test_a_parameter_suggested_again_returns_the_same_value(workspace: Workspace) -> None:
    study = workspace.create_study("same")
    trial = study.ask()
    first = trial.suggest_float("x", 0, 1)
    assert trial.suggest_float("x", 0, 1) == first
    with pytest.raises(DistributionConflictError):
        trial.suggest_int("x", 0, 1)
    with pytest.raises(InvalidDistributionError):
        trial.suggest_float("x", 0, 2)  # another range in the same trial
    study.tell(trial, first)
    # ...and in a later trial, another kind of distribution under the same name is refused.
    later = study.ask()
    with pytest.raises(DistributionConflictError, match="float"):
        later.suggest_categorical("x", ["a", "b"])


def test_bad_ranges_raise_inside_the_objective_and_fail_the_trial(workspace: Workspace) -> None:
    study = workspace.create_study("bad")
    with pytest.raises(InvalidDistributionError, match="inverted"):
        study.optimize(lambda t: t.suggest_float("x", 1, 0), n_trials=1)
    (trial,) = study.trials
    assert trial.state is TrialState.FAIL
    assert "inverted" in trial.system_attrs["fail_reason"]
    with pytest.raises(InvalidDistributionError, match="low > 0"):
        study.optimize(lambda t: t.suggest_float("lr", 0, 1, log=True), n_trials=1)


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (float("nan"), "NaN"),
        ("0.5", "not a number"),
        (None, "no value"),
        ([1.0, 2.0], "2 values"),
    ],
)
def test_unusable_objective_values_fail_the_trial_with_the_reason(
    workspace: Workspace, value: object, reason: str
) -> None:
    study = workspace.create_study("values")
    study.optimize(lambda t: (t.suggest_float("x", 0, 1), value)[1], n_trials=2)  # type: ignore[return-value]
    assert [t.state for t in study.trials] == [TrialState.FAIL] * 2
    assert reason in study.trials[0].system_attrs["fail_reason"]
    with pytest.raises(NotFoundError, match="no COMPLETE"):
        _ = study.best_trial


def test_an_objective_error_fails_its_trial_and_propagates_unless_caught(
    workspace: Workspace,
) -> None:
    calls = []

    def flaky(trial: Trial) -> float:
        calls.append(trial.number)
        x = trial.suggest_float("x", 0, 1)
        if trial.number % 2:
            raise RuntimeError("diverged")
        return x

    study = workspace.create_study("flaky", sampler=RandomSampler(seed=0))
    with pytest.raises(RuntimeError, match="diverged"):
        study.optimize(flaky, n_trials=4)
    assert [t.state for t in study.trials] == [TrialState.COMPLETE, TrialState.FAIL]
    study.optimize(flaky, n_trials=4, catch=(RuntimeError,))
    states = [t.state for t in study.trials]
    assert states.count(TrialState.FAIL) == 3
    assert len(states) == 6
    assert study.trials[1].system_attrs["fail_reason"] == "RuntimeError: diverged"
    # The finished trials were never touched by the failures.
    assert study.trials[0].state is TrialState.COMPLETE


def test_pruned_trials_keep_their_last_report(workspace: Workspace) -> None:
    def objective(trial: Trial) -> float:
        trial.suggest_float("x", 0, 1)
        for step in range(3):
            trial.report(10.0 - step, step)
        raise TrialPruned()

    study = workspace.create_study("pruned")
    study.optimize(objective, n_trials=2)
    trial = study.trials[0]
    assert trial.state is TrialState.PRUNED
    assert trial.values == [8.0]
    assert trial.intermediate_values == {0: 10.0, 1: 9.0, 2: 8.0}
    with pytest.raises(InvalidArgumentError, match="step"):
        study.ask().report(1.0, -1)


def test_multi_objective_studies_keep_a_pareto_front(workspace: Workspace) -> None:
    study = workspace.create_study("mo", directions=["minimize", "maximize"])
    for a, b in [(1.0, 1.0), (2.0, 3.0), (3.0, 2.0), (0.5, 0.5)]:
        trial = study.ask()
        trial.suggest_float("x", 0, 1)
        study.tell(trial, [a, b])
    front = sorted(tuple(t.values) for t in study.best_trials)  # type: ignore[arg-type]
    assert front == [(0.5, 0.5), (1.0, 1.0), (2.0, 3.0)]
    with pytest.raises(InvalidArgumentError, match="best_trials"):
        _ = study.best_trial
    trial = study.ask()
    with pytest.raises(InvalidArgumentError, match="single-objective"):
        trial.report(1.0, 0)
    study.tell(trial, [1.0])  # one value for two objectives
    assert study.trials[-1].state is TrialState.FAIL


def test_infeasible_trials_are_never_best(workspace: Workspace) -> None:
    sampler = TPESampler(seed=0, constraints_func=lambda t: [t.params["x"] - 0.5])
    study = workspace.create_study("constrained", sampler=sampler)
    study.optimize(lambda t: -t.suggest_float("x", 0, 1), n_trials=30)
    assert study.best_trial.params["x"] <= 0.5
    assert any(not t.feasible for t in study.trials)
    assert all("constraints" in t.system_attrs for t in study.trials)


def test_trials_are_child_runs_of_the_study_run(workspace: Workspace) -> None:
    def objective(trial: Trial) -> float:
        x = trial.suggest_float("x", 0, 1)
        trial.report(x * 2, 0)
        trial.run.log_metric("train_loss", 0.25)
        return x

    study = workspace.create_study("tracked", sampler=RandomSampler(seed=0))
    study.optimize(objective, n_trials=3)
    workspace.tracker.flush()
    parent = workspace.tracker.get_run(study.run_id)  # type: ignore[arg-type]
    assert parent.params["sampler"] == "RandomSampler"
    children = workspace.tracker.search_runs("tracked", "tags.`aidot.study` = 'tracked'")
    kids = [r for r in children if r.parent_id == study.run_id]
    assert len(kids) == 3
    best_run = workspace.tracker.get_run(study.best_trial.run_id)  # type: ignore[arg-type]
    assert best_run.status.value == "FINISHED"
    assert float(best_run.params["x"]) == study.best_params["x"]
    assert best_run.metrics["value"] == study.best_value
    assert best_run.metrics["train_loss"] == 0.25
    assert best_run.tags["aidot.trial_state"] == "COMPLETE"
    assert "intermediate_value" in best_run.metrics


def test_names_loading_and_deleting(workspace: Workspace) -> None:
    workspace.create_study("a")
    with pytest.raises(AlreadyExistsError, match="load_if_exists"):
        workspace.create_study("a")
    assert workspace.create_study("a", load_if_exists=True).study_name == "a"
    with pytest.raises(NotFoundError, match="no study named 'missing'"):
        workspace.load_study("missing")
    assert workspace.study_names() == ["a"]
    workspace.delete_study("a")
    assert workspace.study_names() == []
    with pytest.raises(InvalidArgumentError, match="minimize"):
        workspace.create_study("b", direction="upwards")


def test_module_level_helpers_take_a_storage_uri(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path / 'studies.db'}"
    study = aidot.create_study(storage=uri, study_name="m", sampler=RandomSampler(seed=0))
    study.optimize(quadratic, n_trials=3)
    assert aidot.get_all_study_names(uri) == ["m"]
    assert len(aidot.load_study(study_name="m", storage=uri).trials) == 3
    aidot.delete_study(study_name="m", storage=uri)
    assert aidot.get_all_study_names(uri) == []


def test_timeout_callbacks_stop_and_threads(workspace: Workspace) -> None:
    study = workspace.create_study("budget", sampler=RandomSampler(seed=0))
    seen: list[int] = []

    def stop_after_five(s: object, trial: object) -> None:
        seen.append(trial.number)  # type: ignore[attr-defined]
        if len(seen) == 5:
            study.stop()

    study.optimize(quadratic, callbacks=[stop_after_five])
    assert len(study.trials) == 5
    study.optimize(quadratic, timeout=0.5)
    assert len(study.trials) > 5
    before = len(study.trials)
    study.optimize(quadratic, n_trials=12, n_jobs=3)
    numbers = [t.number for t in study.trials]
    assert len(study.trials) == before + 12
    assert numbers == sorted(set(numbers))


def test_dataframe_has_optuna_columns(workspace: Workspace) -> None:
    study = workspace.create_study("df", sampler=RandomSampler(seed=0))
    study.optimize(quadratic, n_trials=4)
    frame = study.trials_dataframe()
    assert list(frame["number"]) == [0, 1, 2, 3]
    assert {"value", "params_x", "params_y", "state", "duration"} <= set(frame.columns)
    assert not math.isnan(frame["value"].min())


def test_checkpoints_and_the_registered_best_model_lead_back_to_their_trial(
    workspace: Workspace,
) -> None:
    import numpy as np

    from aidot import CheckpointManager

    def objective(trial: Trial) -> float:
        weight = trial.suggest_float("weight", -1.0, 1.0)
        loss = (weight - 0.25) ** 2
        with CheckpointManager(trial.run, monitor="val_loss", async_save=False) as checkpoints:
            checkpoints.save({"w": np.array([weight])}, step=0, metrics={"val_loss": loss})
        return loss

    study = workspace.create_study("lineage", sampler=RandomSampler(seed=0))
    study.optimize(objective, n_trials=5)
    best = study.best_trial
    (checkpoint,) = workspace.tracker.list_checkpoints(best.run_id)  # type: ignore[arg-type]
    version = workspace.registry.create_model_version(
        "from-best-trial", checkpoint=checkpoint, run=best.run_id
    )
    assert version.run_id == best.run_id
    run = workspace.tracker.get_run(version.run_id)  # type: ignore[arg-type]
    assert run.parent_id == study.run_id
    assert run.tags["aidot.trial"] == str(best.number)
