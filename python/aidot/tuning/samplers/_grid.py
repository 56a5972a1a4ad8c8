"""Grid search: every combination of a declarative search space, each exactly once."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from aidot.errors import GridExhaustedError, InvalidArgumentError
from aidot.tuning._distributions import CategoricalChoice, Distribution
from aidot.tuning.samplers._base import HyperparameterOptimizer
from aidot.tuning.samplers._random import new_seed

if TYPE_CHECKING:
    from aidot.tuning._study import Study
    from aidot.tuning._trial import Trial

_CLAIM = "grid:"


class GridSampler(HyperparameterOptimizer):
    """Runs every combination of ``search_space`` (``{"lr": [1e-3, 1e-2], "depth": [2, 4]}``)
    exactly once, in a seeded random order, also across parallel workers and processes: each
    trial claims its grid point when it is created, in the same transaction, so no two
    trials get the same one. When every point is taken, ``study.ask()`` raises
    :class:`~aidot.errors.GridExhaustedError` and ``optimize()`` stops.

    The objective still calls ``trial.suggest_*`` for each parameter, with a range that
    contains the grid's values.
    """

    def __init__(
        self, search_space: Mapping[str, Sequence[CategoricalChoice]], seed: int | None = None
    ) -> None:
        if not isinstance(search_space, Mapping) or not search_space:
            raise InvalidArgumentError(
                "GridSampler takes a non-empty dict of parameter name -> list of values"
            )
        for name, values in search_space.items():
            if isinstance(values, str) or not isinstance(values, Sequence) or len(values) == 0:
                raise InvalidArgumentError(
                    f"grid parameter {name!r} needs a non-empty list of values, got {values!r}"
                )
        self._names = sorted(search_space)
        self._space = {name: list(search_space[name]) for name in self._names}
        self._size = math.prod(len(v) for v in self._space.values())
        self._seed = new_seed(seed)

    @property
    def grid_size(self) -> int:
        """How many combinations the grid has."""
        return self._size

    def reseed_rng(self) -> None:
        self._seed = new_seed(None)

    def reserve(self, study: Study, taken: set[str]) -> str | None:
        used = {int(c[len(_CLAIM) :]) for c in taken if c.startswith(_CLAIM)}
        if len(used) >= self._size:
            raise GridExhaustedError(
                f"study {study.study_name!r}: all {self._size} grid points are taken by "
                "trials; every combination ran (or is running) once"
            )
        # A seeded permutation: the order is random but reproducible, and each worker takes
        # the first point nobody took, so workers spread over the grid without repeats.
        order = np.random.default_rng(self._seed).permutation(self._size)
        free = next(int(i) for i in order if int(i) not in used)
        return f"{_CLAIM}{free}"

    def point(self, index: int) -> dict[str, Any]:
        """The parameters of grid point ``index``."""
        point = {}
        for name in reversed(self._names):  # mixed-radix digits, the last name fastest
            values = self._space[name]
            index, digit = divmod(index, len(values))
            point[name] = values[digit]
        return point

    def sample_independent(
        self, study: Study, trial: Trial, param_name: str, param_distribution: Distribution
    ) -> Any:
        if param_name not in self._space:
            raise InvalidArgumentError(
                f"parameter {param_name!r} is not in the grid ({', '.join(self._names)}); add "
                "it to GridSampler's search space"
            )
        claim = trial.system_attrs.get("claim")
        if claim is None or not str(claim).startswith(_CLAIM):
            # An enqueued trial without all its params fixed: any grid value will do.
            values = self._space[param_name]
            return values[
                int(np.random.default_rng([self._seed, trial.number]).integers(len(values)))
            ]
        value = self.point(int(str(claim)[len(_CLAIM) :]))[param_name]
        internal = param_distribution.to_internal_repr(value)
        if not param_distribution.contains(internal):
            raise InvalidArgumentError(
                f"grid value {value!r} of {param_name!r} is outside the suggested "
                f"{param_distribution}; widen the suggest_* range to cover the grid"
            )
        return value
