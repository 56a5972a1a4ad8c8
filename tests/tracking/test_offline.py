"""Logging through a store outage: the real PostgreSQL server stopped and restarted mid-run."""

from __future__ import annotations

import math
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from aidot import Workspace
from aidot.errors import InvalidArgumentError, StoreUnavailableError
from aidot.store import MetadataStore
from aidot.tracking import ExperimentTracker, RunStatus
from aidot.tracking._batch import Batch
from aidot.tracking._ops import Op
from aidot.tracking._spool import Spool, claim_orphans, read_records
from tests.conftest import PostgresServer


def wait_until(condition: object, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        if time.monotonic() > deadline:
            pytest.fail("condition not met in time")
        time.sleep(0.05)


def test_training_goes_on_while_postgres_restarts(
    private_postgres: PostgresServer, tmp_path: Path
) -> None:
    store = MetadataStore(private_postgres.uri)
    tracker = ExperimentTracker(store, flush_interval=0.1, spool_dir=tmp_path / "spool")
    run = tracker.start_run("outage", tags={"phase": "before"})
    run.log_param("lr", 0.01)
    for step in range(1000):
        run.log_metric("loss", 1.0 / (step + 1), step=step)
    tracker.flush()

    private_postgres.stop()
    # Nothing raises while the server is down, and flush() returns once the data is spooled.
    for step in range(1000, 3000):
        run.log_metric("loss", 1.0 / (step + 1), step=step)
    run.log_metric("nan", math.nan)
    run.log_param("batch_size", 32)
    run.set_tag("phase", "during")
    tracker.flush()
    assert tracker.offline
    spooled = list((tmp_path / "spool").rglob("*.spool"))
    assert len(spooled) == 1
    assert spooled[0].stat().st_size > 2000 * 8
    # A changed param is still refused: the run remembers what it logged.
    with pytest.raises(InvalidArgumentError, match="lr"):
        run.log_param("lr", 0.1)

    private_postgres.start()
    for step in range(3000, 4000):
        run.log_metric("loss", 1.0 / (step + 1), step=step)
    wait_until(lambda: not tracker.offline)
    run.end()

    info = tracker.get_run(run.id)
    assert info.status is RunStatus.FINISHED
    assert info.params == {"lr": "0.01", "batch_size": "32"}
    assert info.tags["phase"] == "during"
    history = tracker.get_metric_history(run.id, "loss")
    np.testing.assert_array_equal(history.steps, np.arange(4000))
    np.testing.assert_array_equal(history.values, 1.0 / (np.arange(4000) + 1))
    assert math.isnan(tracker.get_metric_history(run.id, "nan").values[0])
    assert spooled[0].stat().st_size == 0  # replayed, then emptied
    tracker.close()
    assert not spooled[0].exists()
    store.close()


def test_a_run_can_end_while_the_store_is_down(
    private_postgres: PostgresServer, tmp_path: Path
) -> None:
    store = MetadataStore(private_postgres.uri)
    tracker = ExperimentTracker(store, flush_interval=0.1, spool_dir=tmp_path / "spool")
    with tracker.start_run("outage") as run:
        run.log_metric("loss", 1.0)
        private_postgres.stop()
        run.log_metric("loss", 0.5)
    # The block ended FINISHED into the spool; starting a run needs the store, and says so.
    with pytest.raises(StoreUnavailableError, match="unreachable"):
        tracker.start_run("outage")
    private_postgres.start()
    wait_until(lambda: not tracker.offline)
    assert tracker.get_run(run.id).status is RunStatus.FINISHED
    assert tracker.get_run(run.id).metrics == {"loss": 0.5}
    tracker.close()
    store.close()


def test_a_process_killed_during_an_outage_is_replayed_by_the_next_one(
    private_postgres: PostgresServer, tmp_path: Path
) -> None:
    spool = tmp_path / "spool"
    script = textwrap.dedent(
        """
        import os, signal, subprocess, sys
        from aidot.store import MetadataStore
        from aidot.tracking import ExperimentTracker
        uri, spool, stop = sys.argv[1:]
        tracker = ExperimentTracker(MetadataStore(uri), flush_interval=0.1, spool_dir=spool)
        run = tracker.start_run("e")
        run.log_param("seed", 7)
        print(run.id, flush=True)
        subprocess.run(stop.split(), check=True, capture_output=True)
        for i in range(10_000):
            run.log_metric("loss", i)
        run.set_tag("note", "logged while the server was down")
        tracker.flush()  # spooled and fsynced: must survive what follows
        os.kill(os.getpid(), signal.SIGKILL)
        """
    )
    stop = f"{Path(__file__).parents[2] / '.ci' / 'postgres.sh'} stop {private_postgres.folder}"
    proc = subprocess.run(
        [sys.executable, "-c", script, private_postgres.uri, str(spool), stop],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    run_id = proc.stdout.strip()
    assert len(list(spool.rglob("*.spool"))) == 1

    private_postgres.start()
    store = MetadataStore(private_postgres.uri)
    tracker = ExperimentTracker(store, spool_dir=spool)
    wait_until(lambda: not list(spool.rglob("*.spool")))
    history = tracker.get_metric_history(run_id, "loss")
    np.testing.assert_array_equal(history.values, np.arange(10_000))
    assert tracker.get_run(run_id).tags["note"] == "logged while the server was down"
    assert tracker.get_run(run_id).params == {"seed": "7"}
    tracker.close()
    store.close()


def test_a_workspace_spools_inside_its_folder(tmp_path: Path) -> None:
    ws = Workspace(tmp_path / "ws")
    assert ws.tracker._writer._spool is not None
    assert ws.tracker._writer._spool.folder == tmp_path / "ws" / "spool" / ws.store.workspace_id
    ws.close()


def test_batches_survive_the_spool_format() -> None:
    first = Batch.from_points(
        [("r1", "loss", 0.5, 0, 10), ("r1", "acc", math.inf, 0, 10), ("r1", "loss", 0.4, 1, 11)],
        [Op("tags", "r1", {"k": "v"})],
    )
    second = Batch.from_points([("r2", "loss", -1.0, 5, 12), ("r1", "acc", 0.9, 1, 13)])
    decoded = [Batch.decode(b.encode()) for b in (first, second)]
    joined = Batch.concat(decoded)
    assert joined.ops == [Op("tags", "r1", {"k": "v"})]
    parts = {(run, key): arrays for run, key, arrays in joined.parts()}
    values, steps, stamps = parts["r1", "acc"]
    np.testing.assert_array_equal(values, [math.inf, 0.9])
    np.testing.assert_array_equal(steps, [0, 1])
    np.testing.assert_array_equal(stamps, [10, 13])
    np.testing.assert_array_equal(parts["r1", "loss"][0], [0.5, 0.4])
    np.testing.assert_array_equal(parts["r2", "loss"][1], [5])


def test_a_torn_last_record_is_ignored(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    spool.append(b"first")
    spool.append(b"second")
    assert spool.path is not None
    with open(spool.path, "ab") as f:
        f.write(b"ASP1\xff\xff")  # a record cut short by kill -9
    fd = os.open(spool.path, os.O_RDONLY)
    try:
        assert [payload for _, payload in read_records(fd)] == [b"first", b"second"]
    finally:
        os.close(fd)
    spool.close()


def test_only_spools_of_dead_writers_are_claimed(tmp_path: Path) -> None:
    live = Spool(tmp_path)
    live.append(b"held")
    dead = Spool(tmp_path)
    dead.append(b"orphaned")
    dead.close()  # pending: left on disk, unlocked, like after a crash
    with claim_orphans(tmp_path) as claimed:
        assert [path for path, _ in claimed] == [dead.path]
    live.clear()
    live.close()
    assert live.path is not None
    assert not live.path.exists()
