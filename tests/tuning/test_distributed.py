"""Several worker processes on one study, on SQLite and on the real PostgreSQL server."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from aidot import Workspace
from aidot.tuning import GridSampler, RandomSampler, TrialState

ROOT = Path(__file__).parents[2]


@pytest.fixture
def shared(db_uri: str, tmp_path: Path) -> dict[str, str]:
    """The environment that points workers (and the test) at one workspace."""
    return {
        "AIDOT_HOME": str(tmp_path / "home"),
        "AIDOT_DB_URI": db_uri,
        "AIDOT_BLOB_URI": str(tmp_path / "blobs"),
    }


def open_shared(env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Workspace:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return Workspace()


def start_worker(env: dict[str, str], *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "aidot", "tune", "worker", *args],
        cwd=ROOT,
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def wait_all(workers: list[subprocess.Popen[str]]) -> None:
    for worker in workers:
        out, _ = worker.communicate(timeout=300)
        assert worker.returncode == 0, out


def test_workers_share_a_study_without_duplicate_trials(
    shared: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    ws = open_shared(shared, monkeypatch)
    ws.create_study("shared", sampler=RandomSampler(seed=0))
    workers = [
        start_worker(
            shared, "shared", "--module", "tests.tuning.objectives:quadratic", "--n-trials", "8"
        )
        for _ in range(3)
    ]
    wait_all(workers)
    study = ws.load_study("shared")
    trials = study.trials
    assert [t.number for t in trials] == list(range(24))
    assert all(t.state is TrialState.COMPLETE for t in trials)
    # Same seed in every worker, yet every trial drew its own point (seeded by its number).
    assert len({t.params["x"] for t in trials}) == 24
    run_ids = {t.run_id for t in trials}
    assert len(run_ids) == 24
    for t in trials[:3]:
        assert ws.tracker.get_run(t.run_id).parent_id == study.run_id  # type: ignore[arg-type]
    ws.close()


def test_grid_points_are_taken_once_across_workers(
    shared: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    ws = open_shared(shared, monkeypatch)
    ws.create_study("grid", sampler=GridSampler({"lr": [0.1, 0.01, 0.001], "depth": [2, 4, 6, 8]}))
    # The workers load the grid the study was created with, and stop when it is done.
    workers = [
        start_worker(shared, "grid", "--module", "tests.tuning.objectives:grid") for _ in range(3)
    ]
    wait_all(workers)
    trials = ws.load_study("grid").trials
    points = [(t.params["lr"], t.params["depth"]) for t in trials]
    assert len(points) == 12
    assert len(set(points)) == 12
    ws.close()


def test_a_killed_worker_leaves_its_trial_failed_once_its_heartbeat_expires(
    shared: dict[str, str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    ws = open_shared(shared, monkeypatch)
    ws.create_study("crash", sampler=RandomSampler(seed=0), heartbeat_timeout=1.5)
    started = tmp_path / "started"
    env = {**shared, "AIDOT_HEARTBEAT_INTERVAL": "0.2", "AIDOT_TEST_STARTED": str(started)}
    worker = start_worker(
        env, "crash", "--module", "tests.tuning.objectives:hang", "--n-trials", "1"
    )
    deadline = time.monotonic() + 60
    while not started.exists():
        assert worker.poll() is None, worker.communicate()[0]
        assert time.monotonic() < deadline
        time.sleep(0.05)
    study = ws.load_study("crash")
    time.sleep(0.6)  # a few heartbeats: the trial is alive and must not be failed yet
    study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=1)
    assert study.trials[0].state is TrialState.RUNNING
    worker.send_signal(signal.SIGKILL)
    worker.communicate(timeout=30)  # reaps it and closes its pipe
    time.sleep(2.0)  # past the heartbeat timeout
    study._last_stale_check = 0.0  # the check runs at most once a second
    study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=1)
    dead = study.trials[0]
    assert dead.state is TrialState.FAIL
    assert "heartbeats" in dead.system_attrs["fail_reason"]
    assert ws.tracker.get_run(dead.run_id).status.value == "FAILED"  # type: ignore[arg-type]
    assert [t.state for t in study.trials[1:]] == [TrialState.COMPLETE] * 2
    ws.close()
