"""The sampler contract: what every search algorithm implements."""

from __future__ import annotations

import abc
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from aidot.tuning._distributions import Distribution

if TYPE_CHECKING:
    from aidot.tuning._frozen import FrozenTrial, TrialState
    from aidot.tuning._study import Study
    from aidot.tuning._trial import Trial

ConstraintsFunc = Callable[["FrozenTrial"], Sequence[float]]
"""Constraint values of a finished trial: feasible when every one is 0 or less."""


class HyperparameterOptimizer(abc.ABC):
    """The base of every sampler (Optuna's ``BaseSampler``): picks parameter values for trials.

    For each trial the study calls, in this order:

    1. :meth:`reserve` inside the transaction that creates the trial, to claim something no
       other worker may take (a grid point); most samplers claim nothing.
    2. :meth:`before_trial`, then :meth:`infer_relative_search_space` and
       :meth:`sample_relative`: the parameters the sampler draws jointly, up front, from what
       finished trials show (TPE's multivariate mode, GP, CMA-ES).
    3. :meth:`sample_independent` for each parameter the objective suggests that the relative
       draw did not cover (new names, conditional parameters).
    4. :meth:`after_trial` once the trial has its final state, before it is stored.

    Samplers see every finished trial of the study, from every worker, through
    ``study.get_trials``. One sampler object may serve several threads (``n_jobs``): methods
    must not keep per-trial state on ``self`` without a lock. Values returned are what the
    objective sees (a category, not its index). Every sampler takes a ``seed``: the same seed,
    objective and order of trials give the same parameters.
    """

    constraints_func: ConstraintsFunc | None = None
    """Set by samplers that take ``constraints_func=``; the study evaluates it for every
    finished trial and stores the result, and best trials are chosen among feasible ones."""

    def reserve(self, study: Study, taken: set[str]) -> str | None:
        """A claim for the trial being created, unique in the study, given those ``taken``."""
        return None

    def before_trial(self, study: Study, trial: Trial) -> None:  # noqa: B027 - optional hook
        """A trial starts (its number and claim are known)."""

    def infer_relative_search_space(self, study: Study, trial: Trial) -> dict[str, Distribution]:
        """The parameters :meth:`sample_relative` draws for this trial (none by default)."""
        return {}

    def sample_relative(
        self, study: Study, trial: Trial, search_space: dict[str, Distribution]
    ) -> dict[str, Any]:
        """Values for some or all parameters of ``search_space``, drawn jointly."""
        return {}

    @abc.abstractmethod
    def sample_independent(
        self, study: Study, trial: Trial, param_name: str, param_distribution: Distribution
    ) -> Any:
        """A value for one parameter, drawn on its own."""

    def after_trial(  # noqa: B027 - optional hook
        self,
        study: Study,
        trial: FrozenTrial,
        state: TrialState,
        values: Sequence[float] | None,
    ) -> None:
        """The trial ended with ``state`` and ``values``; it is stored right after."""

    def reseed_rng(self) -> None:  # noqa: B027 - optional hook
        """Picks a fresh random seed (each process of a distributed study should differ)."""


BaseSampler = HyperparameterOptimizer
"""Optuna's name for the sampler base class."""
