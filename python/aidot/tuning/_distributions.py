"""Search-space distributions, with Optuna's names and meaning.

Every distribution maps its values to an *internal* float (a category to its index) so that
samplers work on numbers only, and back. Distributions are immutable, compare by value and
round-trip through JSON (how trials store them).
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TypeAlias

from aidot.errors import DistributionConflictError, InvalidDistributionError

CategoricalChoice: TypeAlias = bool | int | float | str | None
"""What a categorical parameter may take: values that survive a JSON round trip."""


@dataclass(frozen=True)
class FloatDistribution:
    """A float in ``[low, high]``, on a log scale with ``log=True``, on the grid
    ``low, low + step, ...`` with ``step`` (not both)."""

    low: float
    high: float
    log: bool = False
    step: float | None = None

    def __post_init__(self) -> None:
        _check_range("a float", self.low, self.high, self.log)
        if self.step is not None:
            if self.log:
                raise InvalidDistributionError(
                    "a float parameter takes step= or log=True, not both; drop one"
                )
            if not self.step > 0:
                raise InvalidDistributionError(f"step must be positive, got {self.step}")
            # Optuna's rule: high snaps down onto the grid.
            steps = math.floor((self.high - self.low) / self.step + 1e-9)
            object.__setattr__(self, "high", _round(self.low + steps * self.step, self.step))

    def to_internal_repr(self, value: Any) -> float:
        """The float a sampler works with."""
        return float(value)

    def to_external_repr(self, internal: float) -> float:
        """The value the objective sees."""
        return float(internal)

    def contains(self, internal: float) -> bool:
        """Whether ``internal`` is a value of this distribution."""
        if not self.low <= internal <= self.high:
            return False
        if self.step is None:
            return True
        k = (internal - self.low) / self.step
        return abs(k - round(k)) < 1e-8

    def single(self) -> bool:
        """Whether the distribution has only one value."""
        return self.low == self.high


@dataclass(frozen=True)
class IntDistribution:
    """An integer in ``[low, high]`` on the grid ``low, low + step, ...``, or on a log scale
    (``log=True``, step 1)."""

    low: int
    high: int
    log: bool = False
    step: int = 1

    def __post_init__(self) -> None:
        for name, value in (("low", self.low), ("high", self.high), ("step", self.step)):
            if isinstance(value, bool) or not isinstance(value, int):
                raise InvalidDistributionError(
                    f"an int parameter's {name} must be an int, got {value!r}"
                )
        _check_range("an int", self.low, self.high, self.log)
        if self.step < 1:
            raise InvalidDistributionError(f"step must be 1 or more, got {self.step}")
        if self.log and self.step != 1:
            raise InvalidDistributionError(
                "an int parameter on a log scale takes step 1 only; drop step= or log=True"
            )
        object.__setattr__(self, "high", self.low + (self.high - self.low) // self.step * self.step)

    def to_internal_repr(self, value: Any) -> float:
        """The float a sampler works with."""
        return float(value)

    def to_external_repr(self, internal: float) -> int:
        """The value the objective sees."""
        return round(internal)

    def contains(self, internal: float) -> bool:
        """Whether ``internal`` is a value of this distribution."""
        if not self.low <= internal <= self.high or internal != round(internal):
            return False
        return (int(internal) - self.low) % self.step == 0

    def single(self) -> bool:
        """Whether the distribution has only one value."""
        return self.low == self.high


@dataclass(frozen=True)
class CategoricalDistribution:
    """One of ``choices`` (None, bools, ints, floats or strings); internally its index."""

    choices: tuple[CategoricalChoice, ...]

    def __init__(self, choices: Sequence[CategoricalChoice]) -> None:
        if isinstance(choices, str) or not isinstance(choices, Sequence):
            raise InvalidDistributionError(
                f"choices must be a list or tuple of values, got {choices!r}"
            )
        if len(choices) == 0:
            raise InvalidDistributionError("a categorical parameter needs at least one choice")
        for choice in choices:
            if choice is not None and not isinstance(choice, bool | int | float | str):
                raise InvalidDistributionError(
                    f"choice {choice!r} is a {type(choice).__name__}; choices must be None, "
                    "bool, int, float or str (store an index or a name for anything else)"
                )
        object.__setattr__(self, "choices", tuple(choices))

    def to_internal_repr(self, value: Any) -> float:
        """The index of ``value`` among the choices."""
        for index, choice in enumerate(self.choices):
            if _same_choice(choice, value):
                return float(index)
        raise InvalidDistributionError(f"{value!r} is not one of the choices {self.choices}")

    def to_external_repr(self, internal: float) -> CategoricalChoice:
        """The choice at index ``internal``."""
        return self.choices[int(internal)]

    def contains(self, internal: float) -> bool:
        """Whether ``internal`` is a valid index."""
        return internal == int(internal) and 0 <= int(internal) < len(self.choices)

    def single(self) -> bool:
        """Whether the distribution has only one value."""
        return len(self.choices) == 1


Distribution: TypeAlias = FloatDistribution | IntDistribution | CategoricalDistribution
"""Any search-space distribution."""


def distribution_to_json(distribution: Distribution) -> str:
    """The JSON form trials store (Optuna's layout: ``{"name": ..., "attributes": ...}``)."""
    return json.dumps(_as_dict(distribution))


def distribution_from_json(text: str) -> Distribution:
    """The distribution :func:`distribution_to_json` wrote."""
    return _from_dict(json.loads(text))


def _as_dict(distribution: Distribution) -> dict[str, Any]:
    if isinstance(distribution, CategoricalDistribution):
        attributes: dict[str, Any] = {"choices": list(distribution.choices)}
    else:
        attributes = {
            "low": distribution.low,
            "high": distribution.high,
            "log": distribution.log,
            "step": distribution.step,
        }
    return {"name": type(distribution).__name__, "attributes": attributes}


def _from_dict(data: dict[str, Any]) -> Distribution:
    kind, attributes = data["name"], data["attributes"]
    if kind == "FloatDistribution":
        return FloatDistribution(**attributes)
    if kind == "IntDistribution":
        return IntDistribution(**attributes)
    if kind == "CategoricalDistribution":
        return CategoricalDistribution(attributes["choices"])
    raise InvalidDistributionError(f"unknown distribution {kind!r} in a stored trial")


def check_compatible(name: str, old: Distribution, new: Distribution) -> None:
    """Refuses ``new`` for parameter ``name`` when it was ``old`` before in a way samplers
    cannot reconcile: another kind, other choices, or a switch to or from a log scale."""
    if type(old) is not type(new):
        raise DistributionConflictError(
            f"parameter {name!r} was suggested as {_kind(old)} and now as {_kind(new)}; give "
            "each kind of parameter its own name"
        )
    if isinstance(old, CategoricalDistribution):
        assert isinstance(new, CategoricalDistribution)
        if old.choices != new.choices:
            raise DistributionConflictError(
                f"parameter {name!r} was suggested with choices {list(old.choices)} and now "
                f"with {list(new.choices)}; keep its choices fixed within a study"
            )
    else:
        assert not isinstance(new, CategoricalDistribution)
        if old.log != new.log:
            raise DistributionConflictError(
                f"parameter {name!r} switched {'from' if old.log else 'to'} a log scale; keep "
                "its scale fixed within a study"
            )


def _kind(distribution: Distribution) -> str:
    return {
        FloatDistribution: "a float",
        IntDistribution: "an int",
        CategoricalDistribution: "a categorical",
    }[type(distribution)]


def _check_range(kind: str, low: float, high: float, log: bool) -> None:
    if not (math.isfinite(low) and math.isfinite(high)):
        raise InvalidDistributionError(
            f"{kind} parameter needs finite bounds, got low={low}, high={high}"
        )
    if low > high:
        raise InvalidDistributionError(
            f"{kind} parameter's range is inverted (low={low} > high={high}); swap the bounds"
        )
    if log and low <= 0:
        raise InvalidDistributionError(
            f"{kind} parameter on a log scale needs low > 0, got low={low}; shift the range "
            "or drop log=True"
        )


def _round(value: float, step: float) -> float:
    # Keep as many decimals as the step has, so 0.1 steps give 0.3 rather than 0.30000000000000004.
    decimals = max(0, -math.floor(math.log10(step)) + 8) if step < 1 else 8
    return round(value, decimals)


def _same_choice(choice: CategoricalChoice, value: Any) -> bool:
    # 1 == True and 1.0 == 1 in Python; a categorical keeps them apart.
    if type(choice) is not type(value):
        return False
    if isinstance(choice, float) and math.isnan(choice):
        return isinstance(value, float) and math.isnan(value)
    return bool(choice == value)
