"""The default sampler: picks the algorithm that suits the study as it goes."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from aidot.tuning._distributions import CategoricalDistribution, Distribution
from aidot.tuning._frozen import FrozenTrial, TrialState
from aidot.tuning.samplers._base import ConstraintsFunc, HyperparameterOptimizer
from aidot.tuning.samplers._gp_sampler import GPSampler
from aidot.tuning.samplers._nsga2 import NSGAIISampler
from aidot.tuning.samplers._random import new_seed
from aidot.tuning.samplers._tpe import TPESampler

if TYPE_CHECKING:
    from aidot.tuning._study import Study
    from aidot.tuning._trial import Trial

GP_MAX_TRIALS = 200
"""Past this many finished trials a GP costs more per trial than it saves (O(n^3))."""

NSGA2_MIN_TRIALS = 250
"""Multi-objective studies switch from TPE to NSGA-II once this many trials finished."""


class AutoSampler(HyperparameterOptimizer):
    """What ``create_study()`` uses without a sampler: for each trial, the algorithm that
    suits the study now.

    - One objective, every parameter a float or int shared by all trials (no categories, no
      conditional parameters) and fewer than :data:`GP_MAX_TRIALS` finished trials:
      :class:`GPSampler`, the most sample-efficient choice when trials are expensive.
    - One objective otherwise: multivariate :class:`TPESampler`, cheap per trial and at ease
      with categorical and conditional spaces.
    - Several objectives: :class:`TPESampler` for the first :data:`NSGA2_MIN_TRIALS` trials,
      then :class:`NSGAIISampler`.

    The choice for each trial is recorded in its ``system_attrs["auto:sampler"]``.
    """

    def __init__(
        self, *, seed: int | None = None, constraints_func: ConstraintsFunc | None = None
    ) -> None:
        self._seed = new_seed(seed)
        self.constraints_func = constraints_func
        self._gp = GPSampler(seed=self._seed, constraints_func=constraints_func)
        self._tpe = TPESampler(seed=self._seed, constraints_func=constraints_func)
        self._nsga2 = NSGAIISampler(seed=self._seed, constraints_func=constraints_func)
        self._chosen: dict[int, HyperparameterOptimizer] = {}
        self._lock = threading.Lock()

    def reseed_rng(self) -> None:
        for sampler in (self._gp, self._tpe, self._nsga2):
            sampler.reseed_rng()

    def before_trial(self, study: Study, trial: Trial) -> None:
        sampler = self._choose(study)
        trial.system_attrs["auto:sampler"] = type(sampler).__name__
        with self._lock:
            self._chosen[trial.number] = sampler
        sampler.before_trial(study, trial)

    def infer_relative_search_space(self, study: Study, trial: Trial) -> dict[str, Distribution]:
        return self._for(study, trial).infer_relative_search_space(study, trial)

    def sample_relative(
        self, study: Study, trial: Trial, search_space: dict[str, Distribution]
    ) -> dict[str, Any]:
        return self._for(study, trial).sample_relative(study, trial, search_space)

    def sample_independent(
        self, study: Study, trial: Trial, param_name: str, param_distribution: Distribution
    ) -> Any:
        return self._for(study, trial).sample_independent(
            study, trial, param_name, param_distribution
        )

    def after_trial(
        self,
        study: Study,
        trial: FrozenTrial,
        state: TrialState,
        values: Sequence[float] | None,
    ) -> None:
        with self._lock:
            sampler = self._chosen.pop(trial.number, None)
        if sampler is not None:
            sampler.after_trial(study, trial, state, values)

    def _for(self, study: Study, trial: Trial) -> HyperparameterOptimizer:
        with self._lock:
            sampler = self._chosen.get(trial.number)
        return sampler if sampler is not None else self._choose(study)

    def _choose(self, study: Study) -> HyperparameterOptimizer:
        trials = study.get_trials(deepcopy=False)
        finished = [t for t in trials if t.state in (TrialState.COMPLETE, TrialState.PRUNED)]
        if len(study.directions) > 1:
            return self._nsga2 if len(finished) >= NSGA2_MIN_TRIALS else self._tpe
        if len(finished) >= GP_MAX_TRIALS or not _fixed_numeric_space(finished):
            return self._tpe
        return self._gp


def _fixed_numeric_space(trials: list[FrozenTrial]) -> bool:
    """Whether every trial so far has the same float and int parameters (none yet counts)."""
    names: set[str] | None = None
    for t in trials:
        if any(isinstance(d, CategoricalDistribution) for d in t.distributions.values()):
            return False
        if names is None:
            names = set(t.distributions)
        elif set(t.distributions) != names:
            return False
    return True
