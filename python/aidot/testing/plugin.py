"""The pytest plugin (entry point ``pytest11``: ``aidot``): fixtures for a temporary
workspace, models served on loopback and a load helper. See :mod:`aidot.testing`.

Only pytest is imported when the plugin loads; aidot's components load when a fixture is used.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from aidot.testing import LoadReport, ServedModel
    from aidot.workspace import Workspace


@pytest.fixture
def aidot_workspace(tmp_path: Path) -> Iterator[Workspace]:
    """A fresh embedded workspace (SQLite + local blobs) under the test's ``tmp_path``."""
    from aidot.workspace import Workspace

    ws = Workspace(tmp_path / "aidot-workspace")
    yield ws
    ws.close()


@pytest.fixture
def aidot_serve(request: pytest.FixtureRequest) -> Iterator[Callable[..., ServedModel]]:
    """``aidot_serve(model, name="model", signature=None, **batching)``: serves a model object
    (or, with the ``aidot_workspace`` fixture also in use, a ``models:/`` URI of its
    registry) on loopback and returns a :class:`~aidot.testing.ServedModel`; every server is
    stopped when the test ends."""
    from aidot.testing import serve_model

    served: list[ServedModel] = []

    def start(model: Any, **options: Any) -> ServedModel:
        if isinstance(model, str) and "workspace" not in options:
            options["workspace"] = request.getfixturevalue("aidot_workspace")
        handle = serve_model(model, **options)
        served.append(handle)
        return handle

    yield start
    for handle in reversed(served):
        handle.stop()


@pytest.fixture
def aidot_load() -> Callable[..., LoadReport]:
    """:func:`aidot.testing.drive_load`: ``aidot_load(served, rows, requests=1000,
    concurrency=16)`` returns latency percentiles, throughput and errors."""
    from aidot.testing import drive_load

    return drive_load
