"""Pruners: stop hopeless trials early from their intermediate values."""

from aidot.tuning.pruners._base import BasePruner, NopPruner
from aidot.tuning.pruners._hyperband import HyperbandPruner, SuccessiveHalvingPruner
from aidot.tuning.pruners._percentile import MedianPruner, PercentilePruner, ThresholdPruner

__all__ = [
    "BasePruner",
    "HyperbandPruner",
    "MedianPruner",
    "NopPruner",
    "PercentilePruner",
    "SuccessiveHalvingPruner",
    "ThresholdPruner",
]
