"""Successive halving (asynchronous, ASHA) and Hyperband."""

from __future__ import annotations

import math
import zlib
from collections.abc import Callable
from typing import TYPE_CHECKING

from aidot.errors import InvalidArgumentError
from aidot.tuning._frozen import StudyDirection, TrialState
from aidot.tuning.pruners._base import BasePruner

if TYPE_CHECKING:
    from aidot.tuning._frozen import FrozenTrial
    from aidot.tuning._study import Study


class SuccessiveHalvingPruner(BasePruner):
    """Asynchronous successive halving (ASHA): a trial that reaches a rung (step
    ``min_resource * reduction_factor ** (min_early_stopping_rate + rung)``) goes on only if
    its value there is in the best ``1 / reduction_factor`` of the values every trial had at
    that rung. Trials never wait for each other, so it suits many parallel workers.

    ``min_resource="auto"`` takes 1/100 of the steps the first finished trial ran. With
    ``bootstrap_count``, a rung prunes every trial until that many trials reached it.
    """

    def __init__(
        self,
        min_resource: str | int = "auto",
        reduction_factor: int = 4,
        min_early_stopping_rate: int = 0,
        bootstrap_count: int = 0,
    ) -> None:
        if min_resource != "auto" and (isinstance(min_resource, str) or min_resource < 1):
            raise InvalidArgumentError(f"min_resource must be 'auto' or >= 1, got {min_resource!r}")
        if reduction_factor < 2:
            raise InvalidArgumentError(f"reduction_factor must be >= 2, got {reduction_factor}")
        if min_early_stopping_rate < 0 or bootstrap_count < 0:
            raise InvalidArgumentError("min_early_stopping_rate and bootstrap_count must be >= 0")
        self._min_resource = None if min_resource == "auto" else int(min_resource)
        self._reduction_factor = reduction_factor
        self._min_early_stopping_rate = min_early_stopping_rate
        self._bootstrap_count = bootstrap_count
        self._competes: Callable[[FrozenTrial], bool] = lambda t: True
        self._rung_prefix = "completed_rung_"

    def prune(self, study: Study, trial: FrozenTrial) -> bool:
        step = trial.last_step
        if step is None:
            return False
        value = trial.intermediate_values[step]
        rung = sum(1 for key in trial.system_attrs if key.startswith(self._rung_prefix))
        min_resource = self._min_resource
        if min_resource is None:
            done = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
            steps = [t.last_step for t in done if t.last_step is not None]
            if not steps:
                return False
            min_resource = max(max(steps) // 100, 1)
            self._min_resource = min_resource
        maximize = study.direction is StudyDirection.MAXIMIZE
        trials = None
        while True:
            promotion_step = min_resource * self._reduction_factor ** (
                self._min_early_stopping_rate + rung
            )
            if step < promotion_step:
                return False
            if math.isnan(value):
                return True
            if trials is None:
                trials = study.get_trials(deepcopy=False)
            key = f"{self._rung_prefix}{rung}"
            trial.system_attrs[key] = value
            competing = [
                t.system_attrs[key]
                for t in trials
                if key in t.system_attrs and t.number != trial.number and self._competes(t)
            ]
            competing.append(value)
            if self._bootstrap_count > 0 and len(competing) <= self._bootstrap_count:
                return True
            if not _promotable(value, competing, self._reduction_factor, maximize):
                return True
            rung += 1


def _promotable(
    value: float, competing: list[float], reduction_factor: int, maximize: bool
) -> bool:
    index = max(len(competing) // reduction_factor - 1, 0)
    ranked = sorted((v for v in competing if not math.isnan(v)), reverse=maximize)
    if not ranked:
        return True
    cutoff = ranked[min(index, len(ranked) - 1)]
    return value >= cutoff if maximize else value <= cutoff


class HyperbandPruner(BasePruner):
    """Hyperband: several successive-halving brackets, from aggressive (prune after
    ``min_resource`` steps) to lenient, each trial in one bracket (chosen by a hash of the
    study name and trial number, in proportion to each bracket's budget) and compared only
    with its bracket. ``max_resource="auto"`` is the steps the first finished trial ran."""

    def __init__(
        self,
        min_resource: int = 1,
        max_resource: str | int = "auto",
        reduction_factor: int = 3,
        bootstrap_count: int = 0,
    ) -> None:
        if min_resource < 1:
            raise InvalidArgumentError(f"min_resource must be >= 1, got {min_resource}")
        if max_resource != "auto" and (
            isinstance(max_resource, str) or max_resource < min_resource
        ):
            raise InvalidArgumentError(
                f"max_resource must be 'auto' or >= min_resource ({min_resource}), got "
                f"{max_resource!r}"
            )
        if reduction_factor < 2:
            raise InvalidArgumentError(f"reduction_factor must be >= 2, got {reduction_factor}")
        self._min_resource = min_resource
        self._max_resource = None if max_resource == "auto" else int(max_resource)
        self._reduction_factor = reduction_factor
        self._bootstrap_count = bootstrap_count
        self._brackets: list[SuccessiveHalvingPruner] = []

    def prune(self, study: Study, trial: FrozenTrial) -> bool:
        if not self._brackets:
            if self._max_resource is None:
                done = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
                steps = [t.last_step for t in done if t.last_step is not None]
                if not steps:
                    return False
                self._max_resource = max(steps) + 1
            ratio = self._max_resource / self._min_resource
            count = math.floor(math.log(ratio, self._reduction_factor) + 1e-9) + 1
            self._brackets = [self._bracket(i) for i in range(count)]
        bracket = trial.system_attrs.get("hyperband_bracket")
        if bracket is None:
            bracket = self._bracket_of(study.study_name, trial.number)
            trial.system_attrs["hyperband_bracket"] = bracket
        return self._brackets[min(bracket, len(self._brackets) - 1)].prune(study, trial)

    def _bracket(self, index: int) -> SuccessiveHalvingPruner:
        pruner = SuccessiveHalvingPruner(
            min_resource=self._min_resource,
            reduction_factor=self._reduction_factor,
            min_early_stopping_rate=index,
            bootstrap_count=self._bootstrap_count,
        )
        pruner._competes = lambda t: t.system_attrs.get("hyperband_bracket") == index
        return pruner

    def _budget(self, index: int) -> int:
        count = len(self._brackets)
        s = count - 1 - index
        budget: int = math.ceil(count * self._reduction_factor**s / (s + 1))
        return budget

    def _bracket_of(self, study_name: str, number: int) -> int:
        budgets = [self._budget(i) for i in range(len(self._brackets))]
        point = zlib.crc32(f"{study_name}_{number}".encode()) % sum(budgets)
        for index, budget in enumerate(budgets):
            if point < budget:
                return index
            point -= budget
        return len(budgets) - 1
