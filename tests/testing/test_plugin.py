"""aidot's pytest plugin as a user meets it: a test suite of their own, run by pytest in a
separate process, gets the fixtures through the ``pytest11`` entry point."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from aidot.errors import InvalidArgumentError
from aidot.testing import drive_load, serve_model

USER_SUITE = textwrap.dedent(
    """
    import numpy as np

    SIGNATURE = {"inputs": [{"name": "x", "dtype": "<f4", "shape": [-1, 3]}]}


    class Doubler:
        def predict(self, batch):
            return batch * 2


    class Broken:
        def predict(self, batch):
            raise ValueError("weights missing")


    def test_a_served_model_answers_under_load(aidot_serve, aidot_load):
        served = aidot_serve(Doubler(), signature=SIGNATURE, name="double")
        report = aidot_load(served, rows=np.arange(30.0).reshape(10, 3), requests=400,
                            concurrency=4)
        assert report.errors == 0, report.error_samples
        assert report.requests == 400
        assert 0 < report.p50_ms <= report.p95_ms <= report.p99_ms <= report.max_ms
        assert report.throughput > 0


    def test_model_errors_are_counted_with_their_message(aidot_serve, aidot_load):
        served = aidot_serve(Broken(), signature=SIGNATURE, name="broken", warmup=False)
        report = aidot_load(served, rows=[[1.0, 2.0, 3.0]], requests=20, concurrency=2)
        assert report.errors == 20
        assert "weights missing" in report.error_samples[0]


    def test_a_workspace_of_its_own(aidot_workspace):
        with aidot_workspace.tracker.start_run("e") as run:
            run.log_metric("m", 1.0)
        assert aidot_workspace.tracker.count_runs("e") == 1
    """
)


def run_pytest(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_a_users_suite_gets_the_fixtures_from_the_entry_point(tmp_path: Path) -> None:
    (tmp_path / "test_users_model.py").write_text(USER_SUITE)
    (tmp_path / "pytest.ini").write_text("[pytest]\n")  # not this project's settings
    result = run_pytest(tmp_path, "-q")
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "3 passed" in result.stdout
    listed = run_pytest(tmp_path, "--fixtures")
    for fixture in ("aidot_workspace", "aidot_serve", "aidot_load"):
        assert fixture in listed.stdout


def test_the_helpers_work_without_pytest() -> None:
    class Negate:
        def predict(self, batch: np.ndarray) -> np.ndarray:
            return -batch

    signature = {"inputs": [{"name": "x", "dtype": "<f4", "shape": [-1, 2]}]}
    with serve_model(Negate(), signature=signature, name="neg", max_batch_size=8) as served:
        assert served.predict_url.endswith("/api/inference/predict/neg")
        report = drive_load(served.predict_url, [[1.0, 2.0]], requests=50, rows_per_request=3)
    assert report.errors == 0
    assert report.requests == 50


def test_bad_load_arguments_are_refused() -> None:
    with pytest.raises(InvalidArgumentError, match="at least 1"):
        drive_load("http://127.0.0.1:1/x", [[1.0]], requests=0)
    with pytest.raises(InvalidArgumentError, match="not an http:// predict URL"):
        drive_load("ftp://host/x", [[1.0]])
    with pytest.raises(InvalidArgumentError, match="rows is empty"):
        drive_load("http://127.0.0.1:1/x", [])


def test_a_registered_version_is_served_from_its_workspace(tmp_path: Path) -> None:
    from sklearn.linear_model import LogisticRegression

    from aidot import Workspace

    x = np.random.default_rng(0).normal(size=(64, 4)).astype(np.float32)
    model = LogisticRegression().fit(x, (x[:, 0] > 0).astype(int))
    with Workspace(tmp_path / "ws") as ws:
        ws.registry.create_model_version("clf", model=model, input_example=x[:2])
        with serve_model("models:/clf/1", name="clf", workspace=ws) as served:
            report = drive_load(served, x, requests=100, concurrency=4)
        assert ws.repository.list() == []  # unloaded; the workspace's repository stays usable
    assert report.errors == 0, report.error_samples
