"""Quasi-random search: Sobol or Halton sequences cover a space more evenly than random."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aidot.errors import InvalidArgumentError
from aidot.tuning._distributions import Distribution
from aidot.tuning.samplers._base import HyperparameterOptimizer
from aidot.tuning.samplers._random import RandomSampler, new_seed
from aidot.tuning.samplers._search_space import IntersectionSearchSpace, from_unit

if TYPE_CHECKING:
    from aidot.tuning._study import Study
    from aidot.tuning._trial import Trial


class QMCSampler(HyperparameterOptimizer):
    """Trial ``n`` takes point ``n`` of a scrambled Sobol (``qmc_type="sobol"``) or Halton
    sequence (scipy's), over the parameters the finished trials share; parameters outside
    that space, and the first trial's, are drawn at random. Seeded: the sequence, and so every
    trial's point, is the same in every worker.
    """

    def __init__(
        self, *, qmc_type: str = "sobol", scramble: bool = True, seed: int | None = None
    ) -> None:
        if qmc_type not in ("sobol", "halton"):
            raise InvalidArgumentError(f"qmc_type must be 'sobol' or 'halton', got {qmc_type!r}")
        self._qmc_type = qmc_type
        self._scramble = scramble
        self._seed = new_seed(seed)
        self._space = IntersectionSearchSpace(include_pruned=False)
        self._fallback = RandomSampler(seed=self._seed)

    def reseed_rng(self) -> None:
        self._seed = new_seed(None)
        self._fallback = RandomSampler(seed=self._seed)

    def infer_relative_search_space(self, study: Study, trial: Trial) -> dict[str, Distribution]:
        return self._space.calculate(study)

    def sample_relative(
        self, study: Study, trial: Trial, search_space: dict[str, Distribution]
    ) -> dict[str, Any]:
        from scipy.stats import qmc

        dims = len(search_space)
        engine: qmc.QMCEngine
        if self._qmc_type == "sobol":
            engine = qmc.Sobol(dims, scramble=self._scramble, seed=self._seed % 2**32)
        else:
            engine = qmc.Halton(dims, scramble=self._scramble, seed=self._seed % 2**32)
        engine.fast_forward(trial.number)
        point = engine.random(1)[0]
        return {
            name: d.to_external_repr(float(from_unit(d, point[i : i + 1])[0]))
            for i, (name, d) in enumerate(search_space.items())
        }

    def sample_independent(
        self, study: Study, trial: Trial, param_name: str, param_distribution: Distribution
    ) -> Any:
        return self._fallback.sample_independent(study, trial, param_name, param_distribution)
