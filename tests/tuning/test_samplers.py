"""Samplers: a conformance suite every sampler passes, then what each one promises."""

from __future__ import annotations

import itertools
from collections.abc import Callable

import numpy as np
import pytest

from aidot import Workspace
from aidot.errors import GridExhaustedError, InvalidArgumentError
from aidot.tuning import (
    AutoSampler,
    CmaEsSampler,
    GPSampler,
    GridSampler,
    HyperparameterOptimizer,
    NSGAIISampler,
    QMCSampler,
    RandomSampler,
    TPESampler,
    Trial,
    TrialState,
)

SAMPLERS: dict[str, Callable[[int], HyperparameterOptimizer]] = {
    "random": lambda seed: RandomSampler(seed=seed),
    "qmc-sobol": lambda seed: QMCSampler(seed=seed),
    "qmc-halton": lambda seed: QMCSampler(qmc_type="halton", seed=seed),
    "tpe": lambda seed: TPESampler(seed=seed, n_startup_trials=5),
    "tpe-univariate": lambda seed: TPESampler(seed=seed, n_startup_trials=5, multivariate=False),
    "gp": lambda seed: GPSampler(seed=seed, n_startup_trials=5, n_preliminary_samples=256),
    "cmaes": lambda seed: CmaEsSampler(seed=seed, popsize=4),
    "nsga2": lambda seed: NSGAIISampler(seed=seed, population_size=6),
    "auto": lambda seed: AutoSampler(seed=seed),
}


def mixed(trial: Trial) -> float:
    """Every kind of parameter, with a conditional one."""
    x = trial.suggest_float("x", -5.0, 5.0)
    lr = trial.suggest_float("lr", 1e-5, 1e-1, log=True)
    stepped = trial.suggest_float("stepped", 0.0, 1.0, step=0.25)
    n = trial.suggest_int("n", 1, 9, step=2)
    units = trial.suggest_int("units", 8, 512, log=True)
    act = trial.suggest_categorical("act", ["relu", "tanh", None])
    extra = trial.suggest_float("extra", 0.0, 1.0) if act == "relu" else 0.0
    return x**2 + abs(np.log10(lr) + 3) + stepped + n / 10 + units / 512 + extra


@pytest.mark.parametrize("name", SAMPLERS)
def test_every_sampler_keeps_values_inside_their_distributions(
    workspace: Workspace, name: str
) -> None:
    study = workspace.create_study(name, sampler=SAMPLERS[name](0))
    study.optimize(mixed, n_trials=14)
    assert [t.state for t in study.trials] == [TrialState.COMPLETE] * 14
    for t in study.trials:
        for param, value in t.params.items():
            distribution = t.distributions[param]
            assert distribution.contains(distribution.to_internal_repr(value)), (param, value)
        assert isinstance(t.params["n"], int)
        assert t.params["n"] % 2 == 1
        assert t.params["stepped"] in (0.0, 0.25, 0.5, 0.75, 1.0)


@pytest.mark.parametrize("name", SAMPLERS)
def test_every_sampler_is_reproducible_with_a_seed(workspace: Workspace, name: str) -> None:
    runs = []
    for attempt in range(2):
        study = workspace.create_study(f"{name}-{attempt}", sampler=SAMPLERS[name](42))
        study.optimize(mixed, n_trials=12)
        runs.append([t.params for t in study.trials])
    assert runs[0] == runs[1]
    other = workspace.create_study(f"{name}-other", sampler=SAMPLERS[name](7))
    other.optimize(mixed, n_trials=12)
    assert [t.params for t in other.trials] != runs[0]


def sphere(trial: Trial) -> float:
    return sum(trial.suggest_float(f"x{i}", -5.0, 5.0) ** 2 for i in range(3))


@pytest.mark.parametrize("name", ["tpe", "gp", "cmaes", "auto"])
def test_model_based_samplers_beat_random_search(workspace: Workspace, name: str) -> None:
    """Summed over a few seeds, so that one lucky random run cannot decide."""
    gains = []
    for seed in range(3):
        smart = workspace.create_study(f"{name}-{seed}", sampler=SAMPLERS[name](seed))
        smart.optimize(sphere, n_trials=40)
        blind = workspace.create_study(f"random-{name}-{seed}", sampler=RandomSampler(seed=seed))
        blind.optimize(sphere, n_trials=40)
        gains.append(blind.best_value - smart.best_value)
    assert sum(gains) > 0, gains


def test_grid_sampler_runs_every_combination_once(workspace: Workspace) -> None:
    space = {"lr": [0.1, 0.01, 0.001], "depth": [2, 4], "act": ["relu", "tanh"]}

    def objective(trial: Trial) -> float:
        lr = trial.suggest_float("lr", 1e-3, 0.1, log=True)
        depth = trial.suggest_int("depth", 1, 8)
        trial.suggest_categorical("act", ["relu", "tanh"])
        return lr * depth

    sampler = GridSampler(space, seed=0)
    assert sampler.grid_size == 12
    study = workspace.create_study("grid", sampler=sampler)
    study.optimize(objective)  # no n_trials: stops when the grid is done
    seen = sorted((t.params["lr"], t.params["depth"], t.params["act"]) for t in study.trials)
    assert seen == sorted(itertools.product(space["lr"], space["depth"], space["act"]))
    with pytest.raises(GridExhaustedError, match="all 12 grid points"):
        study.ask()
    assert len(study.trials) == 12  # the refused ask created nothing


def test_asking_a_grid_for_more_points_than_it_has_raises(workspace: Workspace) -> None:
    study = workspace.create_study("small", sampler=GridSampler({"x": [1, 2, 3]}))
    with pytest.raises(GridExhaustedError, match="3 of the 5 trials"):
        study.optimize(lambda t: t.suggest_int("x", 0, 5), n_trials=5)
    assert sorted(t.params["x"] for t in study.trials) == [1, 2, 3]
    assert all(t.state is TrialState.COMPLETE for t in study.trials)


def test_grid_values_outside_the_suggested_range_fail_clearly(workspace: Workspace) -> None:
    study = workspace.create_study("outside", sampler=GridSampler({"x": [100]}))
    with pytest.raises(InvalidArgumentError, match="widen the suggest"):
        study.optimize(lambda t: t.suggest_int("x", 0, 5), n_trials=1)
    with pytest.raises(InvalidArgumentError, match="not in the grid"):
        workspace.create_study("other", sampler=GridSampler({"x": [1]})).optimize(
            lambda t: t.suggest_int("y", 0, 5), n_trials=1
        )
    with pytest.raises(InvalidArgumentError, match="non-empty list"):
        GridSampler({"x": []})


def test_nsga2_spreads_over_the_pareto_front(workspace: Workspace) -> None:
    def two_objectives(trial: Trial) -> tuple[float, float]:
        x = trial.suggest_float("x", 0.0, 1.0)
        y = trial.suggest_float("y", 0.0, 1.0)
        return x, (1 + y) * (1 - np.sqrt(x))  # ZDT1-like: the front is y = 0

    study = workspace.create_study(
        "zdt",
        directions=["minimize", "minimize"],
        sampler=NSGAIISampler(seed=0, population_size=10),
    )
    study.optimize(two_objectives, n_trials=80)
    generations = {t.system_attrs.get("nsga2:generation") for t in study.trials}
    assert max(g for g in generations if g is not None) >= 5
    front = study.best_trials
    assert len(front) >= 5
    later = [t.params["y"] for t in study.trials[-20:]]
    earlier = [t.params["y"] for t in study.trials[:10]]
    assert np.mean(later) < np.mean(earlier)  # selection pushes y towards the front


def test_cmaes_records_its_generations(workspace: Workspace) -> None:
    study = workspace.create_study("cma", sampler=CmaEsSampler(seed=0, popsize=4))
    study.optimize(sphere, n_trials=30)
    generations = [t.system_attrs.get("cma:generation") for t in study.trials[1:]]
    assert max(g for g in generations if g is not None) >= 4
    with pytest.raises(InvalidArgumentError, match="popsize"):
        CmaEsSampler(popsize=1)


def test_auto_sampler_picks_gp_for_small_numeric_spaces_and_tpe_otherwise(
    workspace: Workspace,
) -> None:
    numeric = workspace.create_study("auto-numeric", sampler=AutoSampler(seed=0))
    numeric.optimize(sphere, n_trials=12)
    assert {t.system_attrs["auto:sampler"] for t in numeric.trials} == {"GPSampler"}
    categorical = workspace.create_study("auto-mixed", sampler=AutoSampler(seed=0))
    categorical.optimize(mixed, n_trials=12)
    assert categorical.trials[-1].system_attrs["auto:sampler"] == "TPESampler"
    multi = workspace.create_study(
        "auto-multi", directions=["minimize", "maximize"], sampler=AutoSampler(seed=0)
    )
    multi.optimize(lambda t: (t.suggest_float("x", 0, 1), t.suggest_float("y", 0, 1)), n_trials=3)
    assert multi.trials[-1].system_attrs["auto:sampler"] == "TPESampler"


def test_default_sampler_is_auto(workspace: Workspace) -> None:
    assert isinstance(workspace.create_study("default").sampler, AutoSampler)


def test_tpe_keeps_sampling_when_ranges_change_between_trials(workspace: Workspace) -> None:
    # Independent sampling models each parameter from every trial that has it, including
    # trials from before its range narrowed (their values lie outside the new range).
    study = workspace.create_study(
        "changing", sampler=TPESampler(seed=0, multivariate=False, n_startup_trials=5)
    )
    for i in range(30):
        trial = study.ask()
        wide = i < 15
        x = trial.suggest_float("x", 0.0, 10.0 if wide else 2.0)
        n = trial.suggest_int("n", 1, 100 if wide else 10, log=True)
        if not wide:
            assert 0.0 <= x <= 2.0
            assert 1 <= n <= 10
        study.tell(trial, x + n)
    assert len(study.trials) == 30


def test_the_native_tpe_step_refuses_malformed_input() -> None:
    from aidot import _core

    rows = np.array([[0.5]]).tobytes()
    one = np.ones(1).tobytes()
    with pytest.raises(InvalidArgumentError, match="whole number of float64"):
        _core.tpe_choose(b"\x00" * 7, one, rows, one, [(0.0, 1.0, None, False)], 1.0, 24, 0)
    with pytest.raises(InvalidArgumentError, match="do not make 1 rows"):
        _core.tpe_choose(rows * 2, one, rows, one, [(0.0, 1.0, None, False)], 1.0, 24, 0)
    with pytest.raises(InvalidArgumentError, match="swap them"):
        _core.tpe_choose(rows, one, rows, one, [(1.0, 0.0, None, False)], 1.0, 24, 0)
    best = _core.tpe_choose(rows, one, rows, one, [(0.0, 1.0, None, False)], 1.0, 24, 0)
    assert len(best) == 1
    assert 0.0 <= best[0] <= 1.0
