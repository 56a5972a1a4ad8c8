"""Experiment tracking: experiments, runs, params, tags and metrics, MLflow-style.

Metric series are stored as compressed chunks with a running downsample (no row per point),
and logging only queues points for a background writer, so a training loop never waits.
"""

from aidot.tracking._artifacts import ArtifactInfo
from aidot.tracking._history import MetricHistory
from aidot.tracking._run import Run, RunStatus
from aidot.tracking._tracker import Experiment, ExperimentTracker, RunInfo

__all__ = [
    "ArtifactInfo",
    "Experiment",
    "ExperimentTracker",
    "MetricHistory",
    "Run",
    "RunInfo",
    "RunStatus",
]
