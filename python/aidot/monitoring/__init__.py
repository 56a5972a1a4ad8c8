"""Watching training as it happens: the TrainingMonitor, its callbacks and system metrics.

Framework integrations live in submodules, imported only when used:
:mod:`aidot.monitoring.sklearn`, :mod:`aidot.monitoring.lightgbm`,
:mod:`aidot.monitoring.xgboost`.
"""

from typing import TYPE_CHECKING, Any

from aidot.monitoring._callbacks import Callback, EarlyStopping
from aidot.monitoring._monitor import TrainingMonitor

if TYPE_CHECKING:
    from aidot.monitoring._system import SystemMetricsSampler

__all__ = ["Callback", "EarlyStopping", "SystemMetricsSampler", "TrainingMonitor"]


def __getattr__(name: str) -> Any:
    # The sampler pulls in logging and psutil: load it when a monitor first starts.
    if name == "SystemMetricsSampler":
        from aidot.monitoring._system import SystemMetricsSampler

        return SystemMetricsSampler
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
