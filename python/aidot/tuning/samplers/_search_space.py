"""Search spaces that samplers infer from finished trials, and the unit-cube encoding that
continuous samplers (QMC, GP, CMA-ES) work in."""

from __future__ import annotations

import math
import threading
from collections.abc import Iterable
from typing import TYPE_CHECKING

import numpy as np

from aidot.tuning._distributions import (
    CategoricalDistribution,
    Distribution,
    IntDistribution,
)
from aidot.tuning._frozen import FrozenTrial, TrialState

if TYPE_CHECKING:
    from aidot.tuning._study import Study


def intersection_search_space(
    trials: Iterable[FrozenTrial], *, include_pruned: bool = False
) -> dict[str, Distribution]:
    """The parameters every finished trial has, with the same distribution, in name order;
    single-valued ones are left out (there is nothing to sample)."""
    states = (TrialState.COMPLETE, TrialState.PRUNED) if include_pruned else (TrialState.COMPLETE,)
    return _sampled(_fold(None, trials, states))


def _fold(
    space: dict[str, Distribution] | None,
    trials: Iterable[FrozenTrial],
    states: tuple[TrialState, ...],
) -> dict[str, Distribution] | None:
    """``space`` narrowed to what each trial in ``states`` also has, with the same
    distribution (None: no such trial yet)."""
    for trial in trials:
        if trial.state not in states:
            continue
        if space is None:
            space = dict(trial.distributions)
        else:
            space = {name: d for name, d in space.items() if trial.distributions.get(name) == d}
    return space


def _sampled(space: dict[str, Distribution] | None) -> dict[str, Distribution]:
    """The space in name order, without single-valued parameters (nothing to sample)."""
    if not space:
        return {}
    return {name: space[name] for name in sorted(space) if not space[name].single()}


class IntersectionSearchSpace:
    """:func:`intersection_search_space` kept up to date as trials finish: finished trials
    never change, so each is folded in once, in the order the study saw them finish (at
    trial 1,000 recomputing it cost 10 ms per trial). One object serves any number of
    studies."""

    def __init__(self, *, include_pruned: bool = False) -> None:
        self._states = (
            (TrialState.COMPLETE, TrialState.PRUNED) if include_pruned else (TrialState.COMPLETE,)
        )
        self._by_study: dict[str, tuple[int, dict[str, Distribution] | None]] = {}
        self._lock = threading.Lock()

    def calculate(self, study: Study) -> dict[str, Distribution]:
        """The intersection over the study's finished trials."""
        with study._trials.lock:
            finished = study._trials.finished_order
            total = len(finished)
            with self._lock:
                done, space = self._by_study.get(study._record.id, (0, None))
                space = _fold(space, finished[done:total], self._states)
                self._by_study[study._record.id] = (total, space)
        return _sampled(space)


def to_unit(distribution: Distribution, internal: np.ndarray) -> np.ndarray:
    """Internal values scaled into [0, 1] (log scales taken first; an integer or a category
    owns the interval around it)."""
    low, high = _bounds(distribution)
    values = np.asarray(internal, dtype=float)
    if _is_log(distribution):
        values = np.log(values)
    return (values - low) / (high - low)


def from_unit(distribution: Distribution, unit: np.ndarray) -> np.ndarray:
    """The inverse of :func:`to_unit`, snapped onto the distribution's values."""
    low, high = _bounds(distribution)
    values = low + np.clip(unit, 0.0, 1.0) * (high - low)
    if _is_log(distribution):
        values = np.exp(values)
    return snap(distribution, values)


def snap(distribution: Distribution, values: np.ndarray) -> np.ndarray:
    """Internal values moved onto the nearest value the distribution holds."""
    if isinstance(distribution, CategoricalDistribution):
        return np.asarray(np.clip(np.floor(values), 0, len(distribution.choices) - 1))
    low, high = distribution.low, distribution.high
    step = distribution.step
    if step is not None and not distribution.log:
        values = low + np.round((values - low) / step) * step
    elif isinstance(distribution, IntDistribution):
        values = np.round(values)
    return np.asarray(np.clip(values, low, high))


def _is_log(distribution: Distribution) -> bool:
    return not isinstance(distribution, CategoricalDistribution) and distribution.log


def _bounds(distribution: Distribution) -> tuple[float, float]:
    if isinstance(distribution, CategoricalDistribution):
        return 0.0, float(len(distribution.choices))
    low, high = float(distribution.low), float(distribution.high)
    step = distribution.step  # an int parameter's is 1 or more, a float's may be None
    half = 0.0 if step is None else 0.5 * step
    low, high = low - half, high + half
    if _is_log(distribution):
        return math.log(low), math.log(high)
    return low, high
