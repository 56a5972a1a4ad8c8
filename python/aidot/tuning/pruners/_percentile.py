"""Pruning against the other trials' values at the same step: median and percentile."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from aidot.errors import InvalidArgumentError
from aidot.tuning._frozen import StudyDirection, TrialState
from aidot.tuning.pruners._base import BasePruner

if TYPE_CHECKING:
    from aidot.tuning._frozen import FrozenTrial
    from aidot.tuning._study import Study


class PercentilePruner(BasePruner):
    """Prunes a trial whose best value so far is worse than the ``percentile`` of the
    finished trials' values at the same step.

    Nothing is pruned during the first ``n_startup_trials`` finished trials, before step
    ``n_warmup_steps``, off the ``interval_steps`` grid, or while fewer than ``n_min_trials``
    trials reported that step.
    """

    def __init__(
        self,
        percentile: float,
        n_startup_trials: int = 5,
        n_warmup_steps: int = 0,
        interval_steps: int = 1,
        *,
        n_min_trials: int = 1,
    ) -> None:
        if not 0.0 <= percentile <= 100.0:
            raise InvalidArgumentError(f"percentile must be in [0, 100], got {percentile}")
        if n_startup_trials < 0 or n_warmup_steps < 0:
            raise InvalidArgumentError("n_startup_trials and n_warmup_steps must be >= 0")
        if interval_steps < 1 or n_min_trials < 1:
            raise InvalidArgumentError("interval_steps and n_min_trials must be >= 1")
        self._percentile = percentile
        self._n_startup_trials = n_startup_trials
        self._n_warmup_steps = n_warmup_steps
        self._interval_steps = interval_steps
        self._n_min_trials = n_min_trials

    def prune(self, study: Study, trial: FrozenTrial) -> bool:
        step = trial.last_step
        finished = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED))
        if not self._checks(step, len(finished)):
            return False
        assert step is not None
        maximize = study.direction is StudyDirection.MAXIMIZE
        own = [v for v in trial.intermediate_values.values() if not math.isnan(v)]
        if not own:
            return True  # only NaN so far: nothing to hope for
        best = max(own) if maximize else min(own)
        others = [
            t.intermediate_values[step]
            for t in finished
            if step in t.intermediate_values and not math.isnan(t.intermediate_values[step])
        ]
        if len(others) < self._n_min_trials:
            return False
        if maximize:
            return best < float(np.percentile(others, 100.0 - self._percentile))
        return best > float(np.percentile(others, self._percentile))

    def _checks(self, step: int | None, finished: int) -> bool:
        """Whether this step is one to judge: past start-up and warm-up, on the interval."""
        return (
            step is not None
            and finished >= self._n_startup_trials
            and step >= self._n_warmup_steps
            and (step - self._n_warmup_steps) % self._interval_steps == 0
        )


class MedianPruner(PercentilePruner):
    """Prunes a trial whose best value so far is worse than the median of the finished
    trials' values at the same step (Optuna's default pruner)."""

    def __init__(
        self,
        n_startup_trials: int = 5,
        n_warmup_steps: int = 0,
        interval_steps: int = 1,
        *,
        n_min_trials: int = 1,
    ) -> None:
        super().__init__(
            50.0, n_startup_trials, n_warmup_steps, interval_steps, n_min_trials=n_min_trials
        )


class ThresholdPruner(BasePruner):
    """Prunes a trial whose latest value is below ``lower``, above ``upper``, or NaN."""

    def __init__(
        self,
        lower: float | None = None,
        upper: float | None = None,
        n_warmup_steps: int = 0,
        interval_steps: int = 1,
    ) -> None:
        if lower is None and upper is None:
            raise InvalidArgumentError("ThresholdPruner needs lower=, upper= or both")
        if lower is not None and upper is not None and lower > upper:
            raise InvalidArgumentError(f"lower ({lower}) must not exceed upper ({upper})")
        self._lower = -math.inf if lower is None else float(lower)
        self._upper = math.inf if upper is None else float(upper)
        self._n_warmup_steps = n_warmup_steps
        self._interval_steps = interval_steps

    def prune(self, study: Study, trial: FrozenTrial) -> bool:
        step = trial.last_step
        if step is None or step < self._n_warmup_steps:
            return False
        if (step - self._n_warmup_steps) % self._interval_steps != 0:
            return False
        value = trial.intermediate_values[step]
        return math.isnan(value) or value < self._lower or value > self._upper
