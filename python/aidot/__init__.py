"""aidot: the whole machine-learning lifecycle in one library.

The public API is re-exported here. Heavy dependencies (SQLAlchemy, Alembic) load only when a
component first needs them, so ``import aidot`` stays fast.
"""

from __future__ import annotations

from aidot import errors
from aidot._core import __version__
from aidot._fluent import (
    active_run,
    end_run,
    log_metric,
    log_metrics,
    log_param,
    log_params,
    set_tag,
    set_tags,
    start_run,
)
from aidot._studies import create_study, delete_study, get_all_study_names, load_study
from aidot.blobs import BlobStore
from aidot.checkpoints import CheckpointManager
from aidot.monitoring import Callback, EarlyStopping, TrainingMonitor
from aidot.serving import serve
from aidot.workspace import Workspace, default_workspace

__all__ = [
    "BlobStore",
    "Callback",
    "CheckpointManager",
    "EarlyStopping",
    "TrainingMonitor",
    "Workspace",
    "__version__",
    "active_run",
    "create_study",
    "default_workspace",
    "delete_study",
    "end_run",
    "errors",
    "get_all_study_names",
    "load_study",
    "log_metric",
    "log_metrics",
    "log_param",
    "log_params",
    "serve",
    "set_tag",
    "set_tags",
    "start_run",
]
