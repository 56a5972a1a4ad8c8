"""Experiment tracking against real stores: a SQLite file and the PostgreSQL server."""

from __future__ import annotations

import math
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import sqlalchemy as sa

from aidot import Workspace
from aidot.errors import AlreadyExistsError, InvalidArgumentError, NotFoundError
from aidot.store import MetadataStore
from aidot.store._schema import metric_chunks
from aidot.tracking import ExperimentTracker, RunStatus


@pytest.fixture
def tracker(db_uri: str) -> Iterator[ExperimentTracker]:
    """A tracker writing synchronously, on each dialect."""
    store = MetadataStore(db_uri)
    tracker = ExperimentTracker(store, synchronous=True)
    yield tracker
    tracker.close()
    store.close()


def test_experiments_lifecycle(tracker: ExperimentTracker) -> None:
    exp = tracker.create_experiment("churn")
    assert tracker.get_experiment_by_name("churn") == exp
    assert tracker.get_experiment(exp.id) == exp
    with pytest.raises(AlreadyExistsError, match="churn"):
        tracker.create_experiment("churn")
    renamed = tracker.rename_experiment(exp.id, "churn-v2")
    assert renamed.name == "churn-v2"
    other = tracker.create_experiment("other")
    with pytest.raises(AlreadyExistsError):
        tracker.rename_experiment(other.id, "churn-v2")
    tracker.delete_experiment(exp.id)
    assert [e.name for e in tracker.list_experiments()] == ["other"]
    assert len(tracker.list_experiments(include_deleted=True)) == 2
    with pytest.raises(InvalidArgumentError, match="deleted"):
        tracker.start_run("churn-v2")
    tracker.restore_experiment(exp.id)
    assert tracker.get_experiment(exp.id).lifecycle == "active"
    with pytest.raises(NotFoundError, match="nope"):
        tracker.get_experiment_by_name("nope")
    with pytest.raises(NotFoundError):
        tracker.delete_experiment("0" * 26)


def test_run_ends_finished_failed_or_killed(tracker: ExperimentTracker) -> None:
    with tracker.start_run("e", name="ok") as run:
        pass
    assert tracker.get_run(run.id).status is RunStatus.FINISHED
    assert tracker.get_run(run.id).end_time is not None
    with pytest.raises(ZeroDivisionError), tracker.start_run("e") as failing:
        _ = 1 / 0
    assert tracker.get_run(failing.id).status is RunStatus.FAILED
    with pytest.raises(KeyboardInterrupt), tracker.start_run("e") as killed:
        raise KeyboardInterrupt
    assert tracker.get_run(killed.id).status is RunStatus.KILLED
    assert run.id < failing.id < killed.id  # ids sort by creation time
    assert tracker.count_runs("e") == 3
    assert tracker.count_runs(tracker.get_experiment_by_name("e").id) == 3


def test_nested_runs_and_context(tracker: ExperimentTracker) -> None:
    with tracker.start_run("e") as parent, tracker.start_run("e", parent=parent) as child:
        pass
    info = tracker.get_run(child.id)
    assert info.parent_id == parent.id
    assert info.context["hostname"]
    assert info.context["python"].count(".") == 2
    assert info.context["command"][0] == sys.executable
    with pytest.raises(NotFoundError):
        tracker.start_run("e", parent="0" * 26)


def test_params_do_not_change_tags_do(tracker: ExperimentTracker) -> None:
    with tracker.start_run("e", tags={"team": "a"}) as run:
        run.log_params({"lr": 0.01, "layers": 3})
        run.log_param("lr", 0.01)  # the same value again is fine
        with pytest.raises(InvalidArgumentError, match=r"already '0\.01'"):
            run.log_param("lr", 0.1)
        run.set_tag("team", "b")
    info = tracker.get_run(run.id)
    assert info.params == {"lr": "0.01", "layers": "3"}
    assert info.tags == {"team": "b"}


def test_metrics_round_trip_with_nan_and_infinities(tracker: ExperimentTracker) -> None:
    with tracker.start_run("e") as run:
        for value in (1.5, math.nan, math.inf, -math.inf, 0.0):
            run.log_metric("m", value)
        run.log_metric("explicit", 2.0, step=10, timestamp=1_700_000_000_000)
        run.log_metrics({"a": 1, "b": 2}, step=5)
    history = tracker.get_metric_history(run.id, "m")
    np.testing.assert_array_equal(history.values, [1.5, math.nan, math.inf, -math.inf, 0.0])
    np.testing.assert_array_equal(history.steps, [0, 1, 2, 3, 4])
    explicit = tracker.get_metric_history(run.id, "explicit")
    assert (explicit.steps[0], explicit.timestamps[0]) == (10, 1_700_000_000_000)
    info = tracker.get_run(run.id)
    assert info.metrics["m"] == 0.0
    assert info.metrics["a"] == 1.0
    assert info.metrics["b"] == 2.0
    with pytest.raises(NotFoundError, match="no metric"):
        tracker.get_metric_history(run.id, "missing")


def test_long_series_are_chunked_and_downsampled(tracker: ExperimentTracker) -> None:
    rng = np.random.default_rng(0)
    values = rng.normal(size=20_000)
    values[12_345] = 50.0  # a spike the downsample must keep
    batched = ExperimentTracker(tracker._store, flush_interval=60)
    with batched.start_run("e") as run:
        for start in range(0, len(values), 3000):  # several writes: chunks get topped up
            for v in values[start : start + 3000]:
                run.log_metric("loss", float(v))
            run.flush()
    batched.close()
    full = tracker.get_metric_history(run.id, "loss")
    np.testing.assert_array_equal(full.values, values)
    np.testing.assert_array_equal(full.steps, np.arange(20_000))
    assert not full.downsampled
    view = tracker.get_metric_history(run.id, "loss", max_points=500)
    assert view.downsampled
    assert len(view) <= 500
    assert view.total_points == 20_000
    assert view.maxs is not None
    assert view.mins is not None
    assert view.maxs.max() == 50.0
    assert view.mins.min() == values.min()
    assert view.values[-1] == values[-1]
    assert view.steps[-1] == 19_999
    with tracker._store.read() as conn:
        chunks = conn.execute(
            sa.select(metric_chunks.c.points, sa.func.length(metric_chunks.c.data)).where(
                metric_chunks.c.run_id == run.id
            )
        ).all()
    assert sum(points for points, _ in chunks) == 20_000
    assert len(chunks) == 5  # 4096 points a chunk
    bytes_per_point = sum(size for _, size in chunks) / 20_000
    assert bytes_per_point < 16
    with pytest.raises(InvalidArgumentError, match="max_points"):
        tracker.get_metric_history(run.id, "loss", max_points=0)


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("bad key!", 1.0, "characters"),
        ("x" * 251, 1.0, "limit is 250"),
        ("", 1.0, "non-empty"),
        ("ok", "high", "must be a number"),
        ("ok", None, "must be a number"),
    ],
)
def test_bad_metrics_are_refused(
    tracker: ExperimentTracker, key: str, value: object, message: str
) -> None:
    with tracker.start_run("e") as run, pytest.raises(InvalidArgumentError, match=message):
        run.log_metric(key, value)  # type: ignore[arg-type]


def test_unknown_runs_are_reported(tracker: ExperimentTracker) -> None:
    with pytest.raises(NotFoundError, match="no run"):
        tracker.get_run("0" * 26)
    with pytest.raises(NotFoundError):
        tracker.get_metric_history("0" * 26, "loss")


def test_background_writer_flushes_on_demand_and_at_end(tmp_path: Path) -> None:
    store = MetadataStore(f"sqlite:///{tmp_path / 'm.db'}")
    tracker = ExperimentTracker(store, flush_interval=60)
    run = tracker.start_run("e")
    for i in range(1000):
        run.log_metric("loss", i)
    run.flush()
    assert len(tracker.get_metric_history(run.id, "loss")) == 1000
    run.log_metric("loss", 1000)
    run.end()
    assert len(tracker.get_metric_history(run.id, "loss")) == 1001
    tracker.close()


def test_one_flush_starts_many_series_and_extends_others(tmp_path: Path) -> None:
    # A study's trials each start their own series, all in one flush, while another run's
    # series grows across flushes (and past a chunk's 4,096 points).
    store = MetadataStore(f"sqlite:///{tmp_path / 'm.db'}")
    tracker = ExperimentTracker(store, flush_interval=60)
    long = tracker.start_run("e")
    for i in range(3000):
        long.log_metric("loss", float(i), step=i)
    long.flush()
    trials = [tracker.start_run("e") for _ in range(50)]
    for n, trial in enumerate(trials):
        trial.log_metric("value", n / 10, step=n)
        trial.log_metric("accuracy", 1 - n / 100, step=n)
    for i in range(3000, 6000):
        long.log_metric("loss", float(i), step=i)
    long.flush()
    history = tracker.get_metric_history(long.id, "loss")
    assert history.steps.tolist() == list(range(6000))
    assert history.values[-1] == 5999.0
    for n, trial in enumerate(trials):
        value = tracker.get_metric_history(trial.id, "value")
        assert (value.steps.tolist(), value.values.tolist()) == ([n], [n / 10])
        assert tracker.get_run(trial.id).metrics["accuracy"] == 1 - n / 100
    assert tracker.get_run(long.id).metrics["loss"] == 5999.0
    tracker.close()


def test_kill_9_loses_at_most_the_last_interval(tmp_path: Path) -> None:
    script = textwrap.dedent(
        """
        import os, signal, sys, time
        from aidot.store import MetadataStore
        from aidot.tracking import ExperimentTracker
        tracker = ExperimentTracker(MetadataStore(sys.argv[1]), flush_interval=0.2)
        run = tracker.start_run("e")
        print(run.id, flush=True)
        for i in range(5000):
            run.log_metric("loss", i)
        time.sleep(1.0)  # several intervals: everything above is written by now
        for i in range(5000, 5100):
            run.log_metric("loss", i)
        os.kill(os.getpid(), signal.SIGKILL)
        """
    )
    uri = f"sqlite:///{tmp_path / 'm.db'}"
    proc = subprocess.run(
        [sys.executable, "-c", script, uri], capture_output=True, text=True, check=False
    )
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    tracker = ExperimentTracker(MetadataStore(uri), synchronous=True)
    history = tracker.get_metric_history(proc.stdout.strip(), "loss")
    assert len(history) >= 5000
    np.testing.assert_array_equal(history.values[:5000], np.arange(5000))
    assert tracker.get_run(proc.stdout.strip()).status is RunStatus.RUNNING
    # Its heartbeat stopped with it: a reader with a short timeout sees it as crashed.
    impatient = ExperimentTracker(tracker._store, synchronous=True, heartbeat_timeout=0.3)
    time.sleep(0.5)
    assert impatient.get_run(proc.stdout.strip()).status is RunStatus.CRASHED


def test_live_runs_keep_their_heartbeat(tmp_path: Path) -> None:
    store = MetadataStore(f"sqlite:///{tmp_path / 'm.db'}")
    tracker = ExperimentTracker(store, heartbeat_interval=0.1)
    reader = ExperimentTracker(store, synchronous=True, heartbeat_timeout=0.5)
    run = tracker.start_run("e")
    time.sleep(1.0)
    assert reader.get_run(run.id).status is RunStatus.RUNNING
    run.end()
    assert reader.get_run(run.id).status is RunStatus.FINISHED
    with pytest.raises(InvalidArgumentError, match="CRASHED"):
        tracker.start_run("e").end("CRASHED")
    tracker.close()
    reader.close()
    store.close()


def test_sigterm_ends_runs_killed_and_keeps_their_metrics(tmp_path: Path) -> None:
    script = textwrap.dedent(
        """
        import os, signal, sys
        from aidot.store import MetadataStore
        from aidot.tracking import ExperimentTracker
        tracker = ExperimentTracker(MetadataStore(sys.argv[1]), flush_interval=60)
        run = tracker.start_run("e")
        print(run.id, flush=True)
        for i in range(3000):
            run.log_metric("loss", i)
        os.kill(os.getpid(), signal.SIGTERM)
        """
    )
    uri = f"sqlite:///{tmp_path / 'm.db'}"
    proc = subprocess.run(
        [sys.executable, "-c", script, uri], capture_output=True, text=True, check=False
    )
    assert proc.returncode == -signal.SIGTERM, proc.stderr
    tracker = ExperimentTracker(MetadataStore(uri), synchronous=True)
    run_id = proc.stdout.strip()
    assert tracker.get_run(run_id).status is RunStatus.KILLED
    assert len(tracker.get_metric_history(run_id, "loss")) == 3000


def test_processes_logging_into_one_sqlite_file_lose_nothing(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path / 'm.db'}"
    MetadataStore(uri).close()
    script = textwrap.dedent(
        """
        import sys
        from aidot.store import MetadataStore
        from aidot.tracking import ExperimentTracker
        tracker = ExperimentTracker(MetadataStore(sys.argv[1]), flush_interval=0.05)
        with tracker.start_run("shared") as run:
            run.log_param("worker", sys.argv[2])
            for i in range(20_000):
                run.log_metric("loss", i)
                run.log_metric("acc", -i)
        print(run.id)
        """
    )
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", script, uri, str(n)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for n in range(8)
    ]
    run_ids = []
    for proc in procs:
        out, err = proc.communicate(timeout=240)
        assert proc.returncode == 0, err
        assert "locked" not in err
        run_ids.append(out.strip())
    tracker = ExperimentTracker(MetadataStore(uri), synchronous=True)
    for run_id in run_ids:
        assert tracker.get_run(run_id).status is RunStatus.FINISHED
        np.testing.assert_array_equal(
            tracker.get_metric_history(run_id, "loss").values, np.arange(20_000)
        )
        assert len(tracker.get_metric_history(run_id, "acc")) == 20_000


def test_module_level_helpers_use_the_default_workspace(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import aidot.workspace

    monkeypatch.setenv("AIDOT_HOME", str(tmp_path / "home"))
    monkeypatch.setattr(aidot.workspace, "_default", None)
    with aidot.start_run("fluent") as run:
        assert aidot.active_run() is run
        aidot.log_param("lr", 0.1)
        aidot.log_metric("loss", 0.5)
        aidot.set_tag("stage", "dev")
        with aidot.start_run("fluent", nested=True) as child:
            aidot.log_metrics({"loss": 0.25})
    assert aidot.active_run() is None
    ws = aidot.default_workspace()
    assert ws.home == tmp_path / "home"
    info = ws.tracker.get_run(run.id)
    assert info.params == {"lr": "0.1"}
    assert info.tags == {"stage": "dev"}
    assert ws.tracker.get_run(child.id).parent_id == run.id
    assert ws.tracker.get_metric_history(child.id, "loss").values.tolist() == [0.25]
    with pytest.raises(NotFoundError, match="no active run"):
        aidot.end_run()
    ws.close()
    monkeypatch.setattr(aidot.workspace, "_default", None)


def test_workspace_tracker_is_flushed_on_close(tmp_path: Path) -> None:
    ws = Workspace(tmp_path / "ws")
    run = ws.tracker.start_run("e")
    run.log_metric("loss", 1.0)
    ws.close()  # flushes the writer
    assert Workspace(tmp_path / "ws").tracker.get_run(run.id).metrics == {"loss": 1.0}
    assert os.path.exists(tmp_path / "ws" / "aidot.db")


def test_artifacts_go_to_the_blob_store(tmp_path: Path) -> None:
    ws = Workspace(tmp_path / "ws")
    model_dir = tmp_path / "model"
    (model_dir / "sub").mkdir(parents=True)
    (model_dir / "weights.bin").write_bytes(b"\x00" * 1000)
    (model_dir / "sub" / "config.json").write_text('{"layers": 3}')
    notes = tmp_path / "notes.txt"
    notes.write_text("first try")
    with ws.tracker.start_run("e") as run:
        run.log_artifact(notes)
        run.log_artifact(notes, artifact_path="docs")
        run.log_artifacts(model_dir, artifact_path="model")
        run.log_dict({"lr": 0.1, "layers": [1, 2]}, "config/params.json")
        run.log_text("hello", "readme.md")
        with pytest.raises(InvalidArgumentError, match=r"\.\."):
            run.log_text("escape", "../outside.txt")
        with pytest.raises(InvalidArgumentError, match="relative"):
            run.log_text("escape", "/etc/passwd")
        with pytest.raises(InvalidArgumentError, match="not a folder"):
            run.log_artifacts(notes)
    paths = [a.path for a in ws.tracker.list_artifacts(run.id)]
    assert paths == [
        "config/params.json",
        "docs/notes.txt",
        "model/sub/config.json",
        "model/weights.bin",
        "notes.txt",
        "readme.md",
    ]
    assert [a.path for a in ws.tracker.list_artifacts(run.id, "model")] == [
        "model/sub/config.json",
        "model/weights.bin",
    ]
    written = ws.tracker.download_artifacts(run.id, "model", tmp_path / "restored")
    assert sorted(p.relative_to(tmp_path / "restored").as_posix() for p in written) == [
        "model/sub/config.json",
        "model/weights.bin",
    ]
    assert (tmp_path / "restored" / "model" / "sub" / "config.json").read_text() == '{"layers": 3}'
    ws.tracker.download_artifacts(run.id, "config/params.json", tmp_path / "one")
    import json

    assert json.loads((tmp_path / "one" / "params.json").read_text()) == {
        "lr": 0.1,
        "layers": [1, 2],
    }
    with pytest.raises(NotFoundError, match="no artifact"):
        ws.tracker.download_artifacts(run.id, "missing", tmp_path / "x")
    # Garbage collection keeps what runs reference.
    ws.blobs.put_bytes(b"unreferenced")
    assert ws.gc(grace_seconds=0).blobs_removed == 1
    assert (tmp_path / "restored").exists()
    assert ws.blobs.verify().ok
    assert len(list(ws.blobs)) == 5  # notes twice is one blob
    ws.close()


def test_trackers_without_a_blob_store_say_so(tracker: ExperimentTracker) -> None:
    with tracker.start_run("e") as run, pytest.raises(InvalidArgumentError, match="blob store"):
        run.log_text("x", "x.txt")


def test_log_figure_stores_a_rendered_image(tmp_path: Path) -> None:
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ws = Workspace(tmp_path / "ws")
    figure, axes = plt.subplots()
    axes.plot([0, 1, 2], [3, 1, 2])
    with ws.tracker.start_run("e") as run:
        run.log_figure(figure, "plots/curve.png")
        run.log_figure(figure, "plots/curve.svg")
    plt.close(figure)
    (png, svg) = ws.tracker.list_artifacts(run.id, "plots")
    assert ws.blobs.get_bytes(png.digest)[:8] == b"\x89PNG\r\n\x1a\n"
    assert b"<svg" in ws.blobs.get_bytes(svg.digest)[:400]
    ws.close()


def test_context_records_the_git_commit_and_dirty_flag(
    tracker: ExperimentTracker, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from aidot.tracking import _context

    repo = tmp_path / "repo"
    repo.mkdir()
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.com"]
    subprocess.run([*git, "init", "-q"], cwd=repo, check=True)
    (repo / "train.py").write_text("print('v1')\n")
    subprocess.run([*git, "add", "."], cwd=repo, check=True)
    subprocess.run([*git, "commit", "-qm", "v1"], cwd=repo, check=True)
    head = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True, check=True
    ).stdout.strip()
    monkeypatch.chdir(repo)
    _context._git_cache.clear()
    with tracker.start_run("e") as clean:
        pass
    (repo / "train.py").write_text("print('v2')\n")
    _context._git_cache.clear()
    with tracker.start_run("e") as dirty:
        pass
    assert tracker.get_run(clean.id).context["git_commit"] == head
    assert tracker.get_run(clean.id).context["git_dirty"] is False
    assert tracker.get_run(dirty.id).context["git_dirty"] is True


def test_a_run_can_be_resumed(tracker: ExperimentTracker) -> None:
    with tracker.start_run("e") as run:
        run.log_param("lr", 0.1)
        run.log_metric("loss", 1.0)
        run.log_metric("loss", 0.9)
    assert tracker.get_run(run.id).status is RunStatus.FINISHED
    with tracker.start_run(run_id=run.id, tags={"resumed": "yes"}) as again:
        assert tracker.get_run(run.id).status is RunStatus.RUNNING
        assert tracker.get_run(run.id).end_time is None
        with pytest.raises(InvalidArgumentError, match=r"already '0\.1'"):
            again.log_param("lr", 0.2)
        again.log_metric("loss", 0.8)  # continues at step 2
    history = tracker.get_metric_history(run.id, "loss")
    np.testing.assert_array_equal(history.steps, [0, 1, 2])
    info = tracker.get_run(run.id)
    assert (info.status, info.tags["resumed"]) == (RunStatus.FINISHED, "yes")
    with pytest.raises(NotFoundError, match="no run with id"):
        tracker.start_run(run_id="nope")
