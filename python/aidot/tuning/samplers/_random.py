"""Uniform random search, and the draws other samplers fall back on."""

from __future__ import annotations

import math
import secrets
import zlib
from typing import TYPE_CHECKING, Any

import numpy as np

from aidot.tuning._distributions import (
    CategoricalDistribution,
    Distribution,
    IntDistribution,
)
from aidot.tuning.samplers._base import HyperparameterOptimizer

if TYPE_CHECKING:
    from aidot.tuning._study import Study
    from aidot.tuning._trial import Trial


def new_seed(seed: int | None) -> int:
    """``seed``, or a fresh random one."""
    return secrets.randbits(63) if seed is None else int(seed)


def trial_rng(seed: int, number: int, salt: str = "") -> np.random.Generator:
    """A generator for one trial (and one parameter, with ``salt``): the same seed and trial
    number give the same draws in any process or thread, and different trials differ, so
    parallel workers with one seed never repeat each other."""
    return np.random.default_rng([seed & (2**63 - 1), number, zlib.crc32(salt.encode())])


def sample_uniform(rng: np.random.Generator, distribution: Distribution) -> float:
    """One internal value drawn uniformly (log-uniformly on a log scale) from ``distribution``."""
    if isinstance(distribution, CategoricalDistribution):
        return float(rng.integers(len(distribution.choices)))
    low, high = distribution.low, distribution.high
    if isinstance(distribution, IntDistribution):
        if distribution.log:
            # Log-uniform over [low - 0.5, high + 0.5], rounded: each integer gets the mass
            # of its neighbourhood on the log scale.
            # (low >= 1 here: a log scale needs low > 0.)
            value = math.exp(rng.uniform(math.log(low - 0.5), math.log(high + 0.5)))
            return float(min(max(round(value), low), high))
        steps = (high - low) // distribution.step
        return float(low + int(rng.integers(int(steps) + 1)) * distribution.step)
    if distribution.step is not None:
        steps = round((high - low) / distribution.step)
        return float(min(low + int(rng.integers(steps + 1)) * distribution.step, high))
    if distribution.log:
        return float(math.exp(rng.uniform(math.log(low), math.log(high))))
    return float(rng.uniform(low, high))


class RandomSampler(HyperparameterOptimizer):
    """Draws every parameter independently and uniformly (log-uniformly on a log scale).

    With ``seed``, trial ``n`` always gets the same values, whichever worker runs it.
    """

    def __init__(self, seed: int | None = None) -> None:
        self._seed = new_seed(seed)

    def reseed_rng(self) -> None:
        self._seed = new_seed(None)

    def sample_independent(
        self, study: Study, trial: Trial, param_name: str, param_distribution: Distribution
    ) -> Any:
        rng = trial_rng(self._seed, trial.number, param_name)
        return param_distribution.to_external_repr(sample_uniform(rng, param_distribution))
