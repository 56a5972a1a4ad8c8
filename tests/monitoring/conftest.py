"""A tracker on a fresh SQLite workspace, and a run to monitor."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from aidot import Workspace
from aidot.tracking import ExperimentTracker, Run


@pytest.fixture
def tracker(workspace: Workspace) -> ExperimentTracker:
    return workspace.tracker


@pytest.fixture
def run(tracker: ExperimentTracker) -> Iterator[Run]:
    with tracker.start_run("monitoring") as run:
        yield run
