"""The Tree-structured Parzen Estimator (TPE), Optuna's default algorithm."""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from aidot.errors import InvalidArgumentError
from aidot.tuning._columns import TrialColumns, rank_key
from aidot.tuning._distributions import Distribution
from aidot.tuning._frozen import FrozenTrial, StudyDirection, TrialState
from aidot.tuning.samplers._base import ConstraintsFunc, HyperparameterOptimizer
from aidot.tuning.samplers._nondominated import nondominated_ranks
from aidot.tuning.samplers._parzen import choose, default_gamma, default_weights
from aidot.tuning.samplers._random import RandomSampler, new_seed, trial_rng
from aidot.tuning.samplers._search_space import IntersectionSearchSpace

if TYPE_CHECKING:
    from aidot.tuning._study import Study
    from aidot.tuning._trial import Trial


class TPESampler(HyperparameterOptimizer):
    """TPE: splits the finished trials into the best ``gamma(n)`` and the rest, fits a
    Parzen estimator to each, and picks, among ``n_ei_candidates`` draws from the good one,
    the point where good is most likely relative to rest.

    ``multivariate=True`` (the default for one objective, as in Optuna 5) models the
    parameters every trial shares jointly, which follows correlated parameters; parameters
    that only some trials have (conditional spaces: ``if kind == "svm": ...``) are modelled
    on their own from the trials that have them. The first ``n_startup_trials`` are random.
    With ``constant_liar`` (default), trials still running in this process count as bad, so
    parallel threads spread out instead of all sampling the same point.
    """

    def __init__(
        self,
        *,
        n_startup_trials: int = 10,
        n_ei_candidates: int = 24,
        gamma: Callable[[int], int] | None = None,
        weights: Callable[[int], np.ndarray] | None = None,
        prior_weight: float = 1.0,
        seed: int | None = None,
        multivariate: bool | None = None,
        constant_liar: bool = True,
        constraints_func: ConstraintsFunc | None = None,
    ) -> None:
        if n_startup_trials < 0:
            raise InvalidArgumentError(f"n_startup_trials must be >= 0, got {n_startup_trials}")
        if n_ei_candidates < 1:
            raise InvalidArgumentError(f"n_ei_candidates must be >= 1, got {n_ei_candidates}")
        if prior_weight <= 0:
            raise InvalidArgumentError(f"prior_weight must be > 0, got {prior_weight}")
        self._n_startup_trials = n_startup_trials
        self._n_ei_candidates = n_ei_candidates
        self._gamma = gamma
        self._weights = weights or default_weights
        self._prior_weight = prior_weight
        self._seed = new_seed(seed)
        self._space = IntersectionSearchSpace(include_pruned=True)
        self._random = RandomSampler(seed=self._seed)
        self._multivariate = multivariate
        self._constant_liar = constant_liar
        self.constraints_func = constraints_func
        self._rows: dict[tuple[object, ...], dict[int, tuple[float, ...] | None]] = {}
        self._rows_lock = threading.Lock()

    def reseed_rng(self) -> None:
        self._seed = new_seed(None)
        self._random = RandomSampler(seed=self._seed)

    # --- the sampler contract -------------------------------------------------------------

    def infer_relative_search_space(self, study: Study, trial: Trial) -> dict[str, Distribution]:
        if not self._is_multivariate(study):
            return {}
        return self._space.calculate(study)

    def sample_relative(
        self, study: Study, trial: Trial, search_space: dict[str, Distribution]
    ) -> dict[str, Any]:
        if not search_space:
            return {}
        return self._sample(study, trial, search_space, salt="relative")

    def sample_independent(
        self, study: Study, trial: Trial, param_name: str, param_distribution: Distribution
    ) -> Any:
        values = self._sample(study, trial, {param_name: param_distribution}, salt=param_name)
        if not values:
            return self._random.sample_independent(study, trial, param_name, param_distribution)
        return values[param_name]

    # --- the algorithm --------------------------------------------------------------------

    def _is_multivariate(self, study: Study) -> bool:
        if self._multivariate is not None:
            return self._multivariate
        return len(study.directions) == 1

    def _sample(
        self, study: Study, trial: Trial, space: dict[str, Distribution], salt: str
    ) -> dict[str, Any]:
        running: list[FrozenTrial] = []
        if self._constant_liar:
            running = [t for t in study._running_snapshots() if t.number != trial.number]
        columns = study._finished_columns()
        if columns is not None:  # one objective: select rows with numpy
            if len(columns) < self._n_startup_trials:
                return {}
            below_obs, above_obs = self._split_columns(columns, space)
        else:
            trials = study.get_trials(deepcopy=False)
            finished = [t for t in trials if t.state in (TrialState.COMPLETE, TrialState.PRUNED)]
            if len(finished) < self._n_startup_trials:
                return {}
            below, above = _split_multi(study, finished, _gamma_multi(len(finished)))
            below_obs = self._observations(study, below, space)
            above_obs = self._observations(study, above, space)
        if running:
            liars = self._observations(study, running, space)
            above_obs = np.vstack([above_obs, liars]) if len(liars) else above_obs
        rng = trial_rng(self._seed, trial.number, salt)
        best = choose(
            below_obs,
            above_obs,
            below_weights=self._weights(len(below_obs)),
            above_weights=self._weights(len(above_obs)),
            space=space,
            prior_weight=self._prior_weight,
            n_candidates=self._n_ei_candidates,
            seed=int(rng.integers(2**63)),
        )
        return {name: d.to_external_repr(best[i]) for i, (name, d) in enumerate(space.items())}

    def _split_columns(
        self, columns: TrialColumns, space: dict[str, Distribution]
    ) -> tuple[np.ndarray, np.ndarray]:
        """The observations of the best ``gamma(n)`` finished trials and of the rest, each
        in trial-number order (the weights favour recent trials)."""
        gamma = self._gamma or default_gamma
        keys = columns.keys
        if keys[:, 0].any():  # PRUNED or infeasible trials: rank by group first
            order = np.lexsort((keys[:, 2], keys[:, 1], keys[:, 0]))
        else:  # COMPLETE feasible trials only: the same order, by value alone
            order = np.argsort(keys[:, 1], kind="stable")
        good = np.zeros(len(columns), dtype=bool)
        good[order[: gamma(len(columns))]] = True
        by_number = np.argsort(columns.numbers, kind="stable")
        keep = columns.usable(by_number, space)
        below = by_number[good[by_number] & keep]
        above = by_number[~good[by_number] & keep]
        values = columns.matrix(np.concatenate([below, above]), space)
        return values[: len(below)], values[len(below) :]

    def _observations(
        self, study: Study, trials: Sequence[FrozenTrial], space: dict[str, Distribution]
    ) -> np.ndarray:
        """:func:`_observations`, with each finished trial's row computed once per space."""
        key = (study._record.id, tuple(space), tuple(type(d) for d in space.values()))
        with self._rows_lock:
            cache = self._rows.setdefault(key, {})
        rows = []
        for trial in trials:
            if trial.state is TrialState.RUNNING:
                row = _row(trial, space)
            else:
                number = trial.number
                if number in cache:
                    row = cache[number]
                else:
                    row = cache[number] = _row(trial, space)
            if row is not None:
                rows.append(row)
        return np.asarray(rows, dtype=float).reshape(len(rows), len(space))


def _gamma_multi(n: int) -> int:
    return math.ceil(0.1 * n)


def _row(trial: FrozenTrial, space: dict[str, Distribution]) -> tuple[float, ...] | None:
    """The internal values of ``space``'s parameters in ``trial``, or None when it lacks one
    or has it with a distribution of another kind."""
    params = trial.internal_params()
    try:
        row = tuple(params[name] for name in space)
    except KeyError:
        return None
    if all(trial.distributions[n].__class__ is d.__class__ for n, d in space.items()):
        return row
    return None


def _split_multi(
    study: Study, trials: list[FrozenTrial], n_below: int
) -> tuple[list[FrozenTrial], list[FrozenTrial]]:
    """Several objectives: the ``n_below`` best trials and the rest, each in trial order.
    COMPLETE feasible trials come first by Pareto rank, then the others as
    :func:`~aidot.tuning._columns.rank_key` orders them (by the first objective)."""
    directions = study.directions
    complete = [t for t in trials if t.feasible and t.state is TrialState.COMPLETE]
    others = [t for t in trials if not (t.feasible and t.state is TrialState.COMPLETE)]
    others.sort(key=lambda t: rank_key(t, directions[0]))
    ordered = _rank_multi(complete, directions) + others
    below = sorted(ordered[:n_below], key=lambda t: t.number)
    above = sorted(ordered[n_below:], key=lambda t: t.number)
    return below, above


def _rank_multi(trials: list[FrozenTrial], directions: list[StudyDirection]) -> list[FrozenTrial]:
    """Trials by non-domination rank; ties by the sum of per-objective ranks."""
    if not trials:
        return []
    values = np.array([t.values for t in trials], dtype=float)
    values *= [-1.0 if d is StudyDirection.MAXIMIZE else 1.0 for d in directions]
    ranks = nondominated_ranks(values)
    spread = values.argsort(axis=0).argsort(axis=0).sum(axis=1)
    order = np.lexsort((spread, ranks))
    return [trials[i] for i in order]
