"""Search-space distributions: validation, JSON round trips, and their named errors."""

from __future__ import annotations

import pytest

from aidot.errors import DistributionConflictError, InvalidDistributionError
from aidot.tuning import CategoricalDistribution, FloatDistribution, IntDistribution
from aidot.tuning._distributions import (
    check_compatible,
    distribution_from_json,
    distribution_to_json,
)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: FloatDistribution(2.0, 1.0), "inverted"),
        (lambda: IntDistribution(5, 1), "inverted"),
        (lambda: FloatDistribution(0.0, 1.0, log=True), "low > 0"),
        (lambda: FloatDistribution(-1.0, 1.0, log=True), "low > 0"),
        (lambda: IntDistribution(0, 10, log=True), "low > 0"),
        (lambda: FloatDistribution(0.0, 1.0, step=0.0), "positive"),
        (lambda: FloatDistribution(1.0, 2.0, log=True, step=0.1), "not both"),
        (lambda: IntDistribution(1, 10, log=True, step=2), "step 1"),
        (lambda: FloatDistribution(0.0, float("inf")), "finite"),
        (lambda: CategoricalDistribution([]), "at least one"),
        (lambda: CategoricalDistribution([object()]), "choices must be"),
        (lambda: IntDistribution(1.5, 3), "must be an int"),  # type: ignore[arg-type]
    ],
)
def test_bad_distributions_raise_a_named_error(make: object, message: str) -> None:
    with pytest.raises(InvalidDistributionError, match=message):
        make()  # type: ignore[operator]


def test_stepped_ranges_snap_high_onto_the_grid() -> None:
    assert FloatDistribution(0.0, 1.0, step=0.3).high == pytest.approx(0.9)
    assert IntDistribution(0, 10, step=3).high == 9


def test_values_map_to_internal_floats_and_back() -> None:
    cat = CategoricalDistribution(["a", 1, 1.0, True, None])
    for choice in cat.choices:
        assert cat.to_external_repr(cat.to_internal_repr(choice)) is choice or (
            cat.to_external_repr(cat.to_internal_repr(choice)) == choice
        )
    assert cat.to_internal_repr(True) == 3.0  # True is not 1
    assert cat.to_internal_repr(1.0) == 2.0  # 1.0 is not 1
    with pytest.raises(InvalidDistributionError, match="not one of"):
        cat.to_internal_repr("b")
    assert IntDistribution(0, 10).to_external_repr(3.0) == 3
    assert IntDistribution(0, 10, step=2).contains(4.0)
    assert not IntDistribution(0, 10, step=2).contains(3.0)
    assert FloatDistribution(0.0, 1.0, step=0.25).contains(0.75)
    assert not FloatDistribution(0.0, 1.0, step=0.25).contains(0.7)


@pytest.mark.parametrize(
    "distribution",
    [
        FloatDistribution(1e-5, 1.0, log=True),
        FloatDistribution(0.0, 2.0, step=0.5),
        IntDistribution(1, 1024, log=True),
        IntDistribution(0, 10, step=2),
        CategoricalDistribution(["relu", "tanh", None, 3, 0.5, False]),
    ],
)
def test_distributions_round_trip_through_json(distribution: object) -> None:
    assert distribution_from_json(distribution_to_json(distribution)) == distribution  # type: ignore[arg-type]


def test_kinds_and_choices_must_stay_the_same_within_a_study() -> None:
    check_compatible("x", FloatDistribution(0, 1), FloatDistribution(0, 5))  # a new range is fine
    with pytest.raises(DistributionConflictError, match="as a float and now as an int"):
        check_compatible("x", FloatDistribution(0, 1), IntDistribution(0, 1))
    with pytest.raises(DistributionConflictError, match="choices"):
        check_compatible("c", CategoricalDistribution(["a"]), CategoricalDistribution(["a", "b"]))
    with pytest.raises(DistributionConflictError, match="log scale"):
        check_compatible("x", FloatDistribution(1, 2), FloatDistribution(1, 2, log=True))
