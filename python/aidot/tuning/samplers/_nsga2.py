"""NSGA-II: the genetic algorithm for several objectives (Pareto fronts)."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

import numpy as np

from aidot.errors import InvalidArgumentError
from aidot.tuning._distributions import Distribution
from aidot.tuning._frozen import FrozenTrial, StudyDirection, TrialState
from aidot.tuning.samplers._base import ConstraintsFunc, HyperparameterOptimizer
from aidot.tuning.samplers._nondominated import crowding_distances, nondominated_ranks
from aidot.tuning.samplers._random import RandomSampler, new_seed, trial_rng
from aidot.tuning.samplers._search_space import IntersectionSearchSpace

if TYPE_CHECKING:
    from aidot.tuning._study import Study
    from aidot.tuning._trial import Trial

_GENERATION = "nsga2:generation"


class NSGAIISampler(HyperparameterOptimizer):
    """NSGA-II (Deb et al. 2002): each generation of ``population_size`` trials is bred from
    the best of the previous population and generation, ranked by Pareto front and then by
    crowding distance. A child takes each parameter from one of two tournament-selected
    parents (uniform crossover, with probability ``crossover_prob``, else a copy of the first
    parent); each parameter mutates (is drawn at random) with ``mutation_prob`` (default 1 /
    number of parameters). With ``constraints_func``, feasible trials beat infeasible ones,
    and infeasible ones compare by total violation.

    Finished trials that no NSGA-II trial bred (enqueued ones, another sampler's) seed the
    first population. Generations are recorded on the trials, so workers share them.
    """

    def __init__(
        self,
        *,
        population_size: int = 50,
        mutation_prob: float | None = None,
        crossover_prob: float = 0.9,
        swapping_prob: float = 0.5,
        seed: int | None = None,
        constraints_func: ConstraintsFunc | None = None,
    ) -> None:
        if population_size < 2:
            raise InvalidArgumentError(f"population_size must be >= 2, got {population_size}")
        for name, p in (("crossover_prob", crossover_prob), ("swapping_prob", swapping_prob)):
            if not 0.0 <= p <= 1.0:
                raise InvalidArgumentError(f"{name} must be in [0, 1], got {p}")
        if mutation_prob is not None and not 0.0 <= mutation_prob <= 1.0:
            raise InvalidArgumentError(f"mutation_prob must be in [0, 1], got {mutation_prob}")
        self._population_size = population_size
        self._mutation_prob = mutation_prob
        self._crossover_prob = crossover_prob
        self._swapping_prob = swapping_prob
        self._seed = new_seed(seed)
        self._space = IntersectionSearchSpace(include_pruned=False)
        self._random = RandomSampler(seed=self._seed)
        self.constraints_func = constraints_func
        self._lock = threading.Lock()

    def reseed_rng(self) -> None:
        self._seed = new_seed(None)
        self._random = RandomSampler(seed=self._seed)

    def infer_relative_search_space(self, study: Study, trial: Trial) -> dict[str, Distribution]:
        return self._space.calculate(study)

    def sample_independent(
        self, study: Study, trial: Trial, param_name: str, param_distribution: Distribution
    ) -> Any:
        return self._random.sample_independent(study, trial, param_name, param_distribution)

    def sample_relative(
        self, study: Study, trial: Trial, search_space: dict[str, Distribution]
    ) -> dict[str, Any]:
        finished = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
        generation, parents = self._generation(study, finished)
        trial.system_attrs[_GENERATION] = generation
        if generation == 0 or len(parents) < 2 or not search_space:
            return {}
        rng = trial_rng(self._seed, trial.number, "nsga2")
        first = self._tournament(study, parents, rng)
        second = self._tournament(study, parents, rng)
        crossover = rng.uniform() < self._crossover_prob
        mutation = self._mutation_prob
        if mutation is None:
            mutation = 1.0 / max(len(search_space), 1)
        child: dict[str, Any] = {}
        for name in search_space:
            if rng.uniform() < mutation:
                continue  # drawn at random by sample_independent
            source = second if crossover and rng.uniform() < self._swapping_prob else first
            if name in source.params:
                child[name] = source.params[name]
        return child

    # --- populations ----------------------------------------------------------------------

    def _generation(
        self, study: Study, finished: list[FrozenTrial]
    ) -> tuple[int, list[FrozenTrial]]:
        """The generation a new trial belongs to, and the population it breeds from."""
        by_generation: dict[int, list[FrozenTrial]] = {}
        for t in finished:
            by_generation.setdefault(int(t.system_attrs.get(_GENERATION, 0)), []).append(t)
        size = self._population_size
        generation = 0
        population: list[FrozenTrial] = []
        while len(by_generation.get(generation, [])) >= size:
            population = self._select(study, population + by_generation[generation], size)
            generation += 1
        return generation, population

    def _select(self, study: Study, candidates: list[FrozenTrial], size: int) -> list[FrozenTrial]:
        """The ``size`` best candidates: whole fronts in rank order, the last one cut by
        crowding distance (most isolated first)."""
        if len(candidates) <= size:
            return list(candidates)
        ranks = self._ranks(study, candidates)
        chosen: list[FrozenTrial] = []
        for rank in range(int(ranks.max()) + 1):
            front = [candidates[i] for i in np.flatnonzero(ranks == rank)]
            if len(chosen) + len(front) <= size:
                chosen += front
                continue
            values = self._losses(study, front)
            order = np.argsort(-crowding_distances(values), kind="stable")
            chosen += [front[i] for i in order[: size - len(chosen)]]
            break
        return chosen

    def _tournament(
        self, study: Study, population: list[FrozenTrial], rng: np.random.Generator
    ) -> FrozenTrial:
        a, b = (int(i) for i in rng.choice(len(population), size=2, replace=False))
        pair = [population[a], population[b]]
        ranks = self._ranks(study, population)
        if ranks[a] != ranks[b]:
            return pair[0] if ranks[a] < ranks[b] else pair[1]
        front = [population[i] for i in np.flatnonzero(ranks == ranks[a])]
        crowding = crowding_distances(self._losses(study, front))
        position = {t.number: i for i, t in enumerate(front)}
        da, db = crowding[position[pair[0].number]], crowding[position[pair[1].number]]
        if da != db:
            return pair[0] if da > db else pair[1]
        return pair[int(rng.integers(2))]

    def _ranks(self, study: Study, trials: list[FrozenTrial]) -> np.ndarray:
        """Pareto ranks under constrained domination: feasible trials first; infeasible ones
        after them, ordered by total violation."""
        feasible = np.array([t.feasible for t in trials])
        ranks = np.zeros(len(trials), dtype=int)
        if feasible.any():
            ranks[feasible] = nondominated_ranks(
                self._losses(study, [t for t, f in zip(trials, feasible, strict=True) if f])
            )
        if (~feasible).any():
            base = int(ranks[feasible].max()) + 1 if feasible.any() else 0
            violation = np.array(
                [
                    sum(c for c in t.system_attrs.get("constraints", []) if c > 0)
                    for t, f in zip(trials, feasible, strict=True)
                    if not f
                ]
            )
            _, order = np.unique(violation, return_inverse=True)
            ranks[~feasible] = base + order
        return ranks

    @staticmethod
    def _losses(study: Study, trials: list[FrozenTrial]) -> np.ndarray:
        signs = np.array([-1.0 if d is StudyDirection.MAXIMIZE else 1.0 for d in study.directions])
        losses = np.array([t.values for t in trials], dtype=float).reshape(len(trials), -1)
        return np.asarray(losses * signs)
