"""What a study knows about a trial: its state, parameters, values and reports."""

from __future__ import annotations

import datetime as dt
import enum
import math
from dataclasses import dataclass, field
from typing import Any

from aidot.tuning._distributions import Distribution


class TrialState(str, enum.Enum):
    """Where a trial is in its life, with Optuna's names."""

    RUNNING = "RUNNING"
    COMPLETE = "COMPLETE"
    PRUNED = "PRUNED"
    FAIL = "FAIL"
    WAITING = "WAITING"
    """Enqueued (``study.enqueue_trial``) and not yet taken by a worker."""

    def is_finished(self) -> bool:
        """COMPLETE, PRUNED or FAIL: nothing about the trial changes any more."""
        return self in (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)


class StudyDirection(str, enum.Enum):
    """Whether an objective is minimized or maximized."""

    MINIMIZE = "MINIMIZE"
    MAXIMIZE = "MAXIMIZE"


@dataclass
class FrozenTrial:
    """A snapshot of a trial, as samplers, pruners and users read it."""

    number: int
    """0, 1, 2, ... in the order trials were created in the study."""
    state: TrialState
    values: list[float] | None
    """One value per objective once COMPLETE (PRUNED trials keep their last report)."""
    params: dict[str, Any]
    """Parameter values as the objective saw them."""
    distributions: dict[str, Distribution]
    intermediate_values: dict[int, float] = field(default_factory=dict)
    """What the objective reported (``trial.report(value, step)``), by step."""
    user_attrs: dict[str, Any] = field(default_factory=dict)
    system_attrs: dict[str, Any] = field(default_factory=dict)
    """aidot's own notes: the grid point, the failure reason, constraint values..."""
    datetime_start: dt.datetime | None = None
    datetime_complete: dt.datetime | None = None
    trial_id: str = ""
    run_id: str | None = None
    """The tracking run recording this trial (a child of the study's run)."""
    _internal: dict[str, float] | None = field(default=None, repr=False, compare=False)

    @property
    def value(self) -> float | None:
        """The single objective's value (``values[0]``); multi-objective studies use ``values``."""
        if self.values is None:
            return None
        if len(self.values) != 1:
            raise ValueError(
                f"trial {self.number} has {len(self.values)} objective values; read "
                "trial.values in a multi-objective study"
            )
        return self.values[0]

    @property
    def duration(self) -> dt.timedelta | None:
        """How long the trial ran, once finished."""
        if self.datetime_start is None or self.datetime_complete is None:
            return None
        return self.datetime_complete - self.datetime_start

    @property
    def last_step(self) -> int | None:
        """The highest step reported, or None."""
        return max(self.intermediate_values) if self.intermediate_values else None

    @property
    def feasible(self) -> bool:
        """False when a constraint function found a constraint above 0 for this trial."""
        constraints = self.system_attrs.get("constraints")
        return constraints is None or all(c <= 0 for c in constraints)

    def internal_params(self) -> dict[str, float]:
        """Each parameter as the float samplers work with."""
        if self._internal is not None:
            return self._internal
        return {
            name: self.distributions[name].to_internal_repr(value)
            for name, value in self.params.items()
        }


def dominates(a: list[float], b: list[float], directions: list[StudyDirection]) -> bool:
    """Whether ``a`` is at least as good as ``b`` in every objective and better in one."""
    better = False
    for x, y, direction in zip(a, b, directions, strict=True):
        sign = -1.0 if direction is StudyDirection.MAXIMIZE else 1.0
        if sign * x > sign * y:
            return False
        better = better or sign * x < sign * y
    return better


def is_nan(value: float) -> bool:
    """NaN check that also accepts non-floats (they are never NaN)."""
    return isinstance(value, float) and math.isnan(value)
