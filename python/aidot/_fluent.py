"""Module-level tracking helpers on the default workspace, as ``mlflow.start_run`` and co.

``aidot.start_run()`` pushes a run on a process-wide stack; the other helpers log to the
innermost active run, starting one in the "Default" experiment when none is active.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from aidot.errors import NotFoundError

if TYPE_CHECKING:
    from aidot.tracking import Run, RunStatus

_active: list[Run] = []
_lock = threading.Lock()


def start_run(
    experiment: str | None = None,
    *,
    name: str | None = None,
    tags: Mapping[str, Any] | None = None,
    nested: bool = False,
    run_id: str | None = None,
) -> Run:
    """Starts a run on the default workspace and makes it the active one.

    ``run_id`` resumes an existing run instead of starting a new one.

    With ``nested=True`` the new run is a child of the active run.
    """
    from aidot.workspace import default_workspace

    with _lock:
        parent = _active[-1] if nested and _active else None
    run = default_workspace().tracker.start_run(
        experiment, name=name, tags=tags, parent=parent, run_id=run_id
    )
    run._on_end = _forget
    with _lock:
        _active.append(run)
    return run


def active_run() -> Run | None:
    """The innermost active run, if any."""
    with _lock:
        return _active[-1] if _active else None


def end_run(status: RunStatus | str = "FINISHED") -> None:
    """Ends the active run."""
    run = active_run()
    if run is None:
        raise NotFoundError("no active run to end; start one with aidot.start_run()")
    run.end(status)


def log_param(key: str, value: Any) -> None:
    """Records a parameter of the active run."""
    _run().log_param(key, value)


def log_params(params: Mapping[str, Any]) -> None:
    """Records parameters of the active run."""
    _run().log_params(params)


def log_metric(key: str, value: float, step: int | None = None) -> None:
    """Records a metric point on the active run."""
    _run().log_metric(key, value, step)


def log_metrics(metrics: Mapping[str, float], step: int | None = None) -> None:
    """Records several metric points on the active run."""
    _run().log_metrics(metrics, step)


def set_tag(key: str, value: Any) -> None:
    """Sets a tag on the active run."""
    _run().set_tag(key, value)


def set_tags(tags: Mapping[str, Any]) -> None:
    """Sets tags on the active run."""
    _run().set_tags(tags)


def _run() -> Run:
    return active_run() or start_run()


def _forget(run: Run) -> None:
    with _lock:
        if run in _active:
            _active.remove(run)
