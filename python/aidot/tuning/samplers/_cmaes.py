"""CMA-ES for continuous spaces, on the ``cmaes`` package (the implementation Optuna uses)."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

import numpy as np

from aidot.errors import InvalidArgumentError
from aidot.tuning._distributions import CategoricalDistribution, Distribution
from aidot.tuning._frozen import StudyDirection, TrialState
from aidot.tuning.samplers._base import HyperparameterOptimizer
from aidot.tuning.samplers._random import RandomSampler, new_seed
from aidot.tuning.samplers._search_space import IntersectionSearchSpace, from_unit

if TYPE_CHECKING:
    import cmaes

    from aidot.tuning._study import Study
    from aidot.tuning._trial import Trial

_GENERATION = "cma:generation"
_POINT = "cma:x"


class CmaEsSampler(HyperparameterOptimizer):
    """Covariance matrix adaptation evolution strategy over the float and int parameters
    every finished trial shares (two or more; categorical and conditional parameters are
    drawn by ``independent_sampler``, random by default).

    Each trial records its generation and its point in the unit cube, and the strategy is
    rebuilt from those records by telling it every completed generation in order: any
    worker, in any process, continues the same search, and a restarted study resumes it.
    """

    def __init__(
        self,
        *,
        x0: dict[str, Any] | None = None,
        sigma0: float | None = None,
        n_startup_trials: int = 1,
        independent_sampler: HyperparameterOptimizer | None = None,
        seed: int | None = None,
        popsize: int | None = None,
    ) -> None:
        if sigma0 is not None and not sigma0 > 0:
            raise InvalidArgumentError(f"sigma0 must be > 0, got {sigma0}")
        if popsize is not None and popsize < 2:
            raise InvalidArgumentError(f"popsize must be >= 2, got {popsize}")
        self._x0 = x0
        self._sigma0 = sigma0
        self._n_startup_trials = n_startup_trials
        self._seed = new_seed(seed)
        self._space = IntersectionSearchSpace(include_pruned=False)
        self._independent = independent_sampler or RandomSampler(seed=self._seed)
        self._popsize = popsize
        self._lock = threading.Lock()
        self._state: tuple[tuple[str, ...], cmaes.CMA, int] | None = None

    def reseed_rng(self) -> None:
        self._independent.reseed_rng()

    def infer_relative_search_space(self, study: Study, trial: Trial) -> dict[str, Distribution]:
        space = self._space.calculate(study)
        numeric: dict[str, Distribution] = {
            n: d for n, d in space.items() if not isinstance(d, CategoricalDistribution)
        }
        return numeric if len(numeric) >= 2 else {}

    def sample_independent(
        self, study: Study, trial: Trial, param_name: str, param_distribution: Distribution
    ) -> Any:
        return self._independent.sample_independent(study, trial, param_name, param_distribution)

    def sample_relative(
        self, study: Study, trial: Trial, search_space: dict[str, Distribution]
    ) -> dict[str, Any]:
        if not search_space:
            return {}
        if len(study.directions) > 1:
            raise InvalidArgumentError(
                "CmaEsSampler optimizes one objective; use NSGAIISampler or TPESampler for several"
            )
        trials = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
        if len(trials) < self._n_startup_trials:
            return {}
        names = tuple(search_space)
        with self._lock:
            optimizer = self._optimizer(study, names, search_space, trials)
            point = optimizer.ask()
            trial.system_attrs[_GENERATION] = optimizer.generation
            trial.system_attrs[_POINT] = [float(v) for v in point]
            trial.system_attrs["cma:space"] = list(names)
        return {
            name: d.to_external_repr(float(from_unit(d, point[i : i + 1])[0]))
            for i, (name, d) in enumerate(search_space.items())
        }

    def _optimizer(
        self,
        study: Study,
        names: tuple[str, ...],
        space: dict[str, Distribution],
        trials: list[Any],
    ) -> cmaes.CMA:
        """The strategy with every completed generation told, rebuilt when the space changed."""
        if self._state is None or self._state[0] != names:
            self._state = (names, self._new(space), 0)
        _, optimizer, told = self._state
        sign = -1.0 if study.direction is StudyDirection.MAXIMIZE else 1.0
        by_generation: dict[int, list[tuple[np.ndarray, float]]] = {}
        for t in trials:
            if t.system_attrs.get("cma:space") != list(names) or _GENERATION not in t.system_attrs:
                continue
            point = np.asarray(t.system_attrs[_POINT], dtype=float)
            by_generation.setdefault(t.system_attrs[_GENERATION], []).append(
                (point, sign * t.values[0])
            )
        while len(by_generation.get(told, [])) >= optimizer.population_size:
            optimizer.tell(by_generation[told][: optimizer.population_size])
            told += 1
        self._state = (names, optimizer, told)
        return optimizer

    def _new(self, space: dict[str, Distribution]) -> cmaes.CMA:
        import cmaes

        dims = len(space)
        mean = np.full(dims, 0.5)
        if self._x0 is not None:
            from aidot.tuning.samplers._search_space import to_unit

            for i, (name, d) in enumerate(space.items()):
                if name in self._x0:
                    internal = np.array([d.to_internal_repr(self._x0[name])])
                    mean[i] = float(to_unit(d, internal)[0])
        sigma = self._sigma0 if self._sigma0 is not None else 1.0 / 6.0
        bounds = np.tile([0.0, 1.0], (dims, 1))
        return cmaes.CMA(
            mean=mean,
            sigma=sigma,
            bounds=bounds,
            seed=self._seed % 2**31,
            population_size=self._popsize,
        )
