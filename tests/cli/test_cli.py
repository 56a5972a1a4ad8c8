"""The ``aidot`` command, run in-process through click's runner and as a real subprocess."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from aidot import Workspace, __version__
from aidot.cli import cli


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    return result.exit_code, result.output


def test_version() -> None:
    assert run("--version") == (0, f"aidot, version {__version__}\n")


def test_init_then_stats_verify_gc(tmp_path: Path) -> None:
    home = tmp_path / "ws"
    code, out = run("init", str(home))
    assert code == 0
    assert "workspace ready" in out
    ws = Workspace(home)
    kept = ws.blobs.put_bytes(b"kept")
    ws.blobs.put_bytes(b"unreferenced")
    ws.store.add_blob_refs("test", [kept])
    code, out = run("blobs", "stats", "--workspace", str(home))
    assert code == 0
    assert "blobs" in out
    assert "2" in out
    code, out = run("blobs", "verify", "--workspace", str(home))
    assert (code, "2 blobs verified" in out) == (0, True)
    code, out = run("blobs", "gc", "--dry-run", "--workspace", str(home))
    assert code == 0
    assert "1 unreferenced" in out
    code, out = run("blobs", "gc", "--grace", "0", "--workspace", str(home))
    assert code == 0
    assert "removed 1 blobs" in out
    assert list(ws.blobs) == [kept]


def test_workspace_from_environment(tmp_path: Path, monkeypatch: object) -> None:
    import os

    env = {**os.environ, "AIDOT_HOME": str(tmp_path / "envws")}
    subprocess.run([sys.executable, "-m", "aidot", "init"], env=env, check=True, cwd=tmp_path)
    assert (tmp_path / "envws" / "aidot.db").exists()


def test_verify_reports_damage_with_exit_status_1(tmp_path: Path) -> None:
    ws = Workspace(tmp_path / "ws")
    digest = ws.blobs.put_bytes(b"will be damaged")
    path = ws.blob_root / "objects" / digest[:2] / digest
    path.chmod(0o644)
    path.write_bytes(b"damaged content")
    code, out = run("blobs", "verify", "--workspace", str(ws.home))
    assert code == 1
    assert "corrupt" in out
    assert digest in out


def test_errors_are_one_line_not_a_traceback(tmp_path: Path) -> None:
    code, out = run("blobs", "verify", "0" * 63, "--workspace", str(tmp_path / "ws"))
    assert code == 1
    assert "error:" in out
    assert "64 hexadecimal" in out
    assert "Traceback" not in out


def test_demo_runs_the_whole_lifecycle(tmp_path: Path) -> None:
    proc = subprocess.run(
        ["aidot", "demo", "--workspace", str(tmp_path / "demo")],
        capture_output=True,
        text=True,
        check=False,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout.replace("\n", " ")
    assert "demo@v1" in out
    assert "demo@v2" in out
    ws = Workspace(tmp_path / "demo")
    v2 = ws.data.get("demo@v2")
    assert v2.file_count == 1_500 + 300 + 100 + 1
    assert len({e.digest for e in v2.files.values()}) == 1_500 + 100 + 1 + 1  # labels once
    assert ws.blobs.verify().ok

    # The study: 20 trials, each a tracked child run under the study's run, some pruned.
    study = ws.load_study("demo-tuning-1")
    assert len(study.trials) == 20
    states = {t.state.name for t in study.trials}
    assert states <= {"COMPLETE", "PRUNED"}
    assert "COMPLETE" in states
    best = study.best_trial
    assert best.value is not None
    assert best.value > 0.9
    assert best.run_id is not None
    assert f"best validation accuracy {best.value:.4f}" in out
    assert f"(run {best.run_id})" in out
    trial_run = ws.tracker.get_run(best.run_id)
    assert trial_run.parent_id == study.run_id
    assert set(trial_run.params) >= {"lr", "l2"}
    assert "val_accuracy" in trial_run.metrics  # logged by the TrainingMonitor
    assert [v.ref for v in ws.data.used_by(best.run_id)] == ["demo@v2"]
    (kept,) = ws.tracker.list_checkpoints(best.run_id)  # save_top_k=1 by val_accuracy
    assert kept.metrics["val_accuracy"] == pytest.approx(best.value)

    # The best trial's model: registered with its lineage, in Production, served.
    production = ws.registry.resolve("models:/demo-classifier@Production")
    assert production.run_id == best.run_id
    assert ws.registry.lineage(production.uri).datasets[0]["ref"] == "demo@v2"
    assert "registered as models:/demo-classifier/1 with its lineage" in out
    assert "agrees with the trial's weights on 100.0% of the rows" in out
    served = re.search(
        r"([\d,]+) requests from 16 concurrent clients .* p50 ([\d.]+) ms, p95 ([\d.]+) ms, "
        r"p99 ([\d.]+) ms; mean batch .* \(([\d.]+)% of the largest allowed\), (\d+) errors; "
        r"answers agree .* on ([\d.]+)%",
        out,
    )
    assert served, out
    assert served.group(1) == "4,000"
    assert 0 < float(served.group(2)) <= float(served.group(3)) <= float(served.group(4))
    assert 0 < float(served.group(5)) <= 100
    assert served.group(6) == "0"
    assert float(served.group(7)) == 100.0
    assert f"aidot ui --workspace {tmp_path / 'demo'}" in out
    data = (tmp_path / "demo" / "demo-data" / "embeddings.bin").read_bytes()
    import blake3

    assert blake3.blake3(data).hexdigest() in out.replace(" ", "")


def test_tracking_commands(tmp_path: Path) -> None:
    home = tmp_path / "ws"
    ws = Workspace(home)
    runs = []
    for lr in ("0.1", "0.01"):
        with ws.tracker.start_run("churn", name=f"lr-{lr}") as tracked:
            tracked.log_param("lr", lr)
            for step in range(50):
                tracked.log_metric("loss", float(lr) / (step + 1))
            tracked.log_text("notes", "notes.txt")
        runs.append(tracked.id)
    ws.close()
    code, out = run("experiments", "ls", "--workspace", str(home))
    assert code == 0
    assert "churn" in out
    code, out = run(
        "runs", "ls", "-e", "churn", "--order-by", "metrics.loss ASC", "--workspace", str(home)
    )
    assert code == 0
    assert out.index("lr-0.01") < out.index("lr-0.1 ")
    code, out = run("runs", "show", runs[0], "--workspace", str(home))
    assert code == 0
    assert "lr-0.1" in out
    assert "notes.txt" in out
    assert "FINISHED" in out
    code, out = run("runs", "compare", *runs, "--workspace", str(home))
    assert code == 0
    assert "params.lr" in out
    assert "metrics.loss" in out
    png = tmp_path / "loss.png"
    code, out = run(
        "runs", "plot", *runs, "--metric", "loss", "-o", str(png), "--workspace", str(home)
    )
    assert code == 0, out
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    code, out = run("runs", "ls", "--filter", "loss <", "--workspace", str(home))
    assert code == 1
    assert "bad filter" in out
    code, out = run("runs", "show", "0" * 26, "--workspace", str(home))
    assert code == 1
    assert "no run" in out


def test_runs_delete_and_restore(tmp_path: Path) -> None:
    home = tmp_path / "ws"
    with Workspace(home) as ws:
        with ws.tracker.start_run("e", name="first"):
            pass
        with ws.tracker.start_run("e", name="second") as second:
            pass
    assert run("runs", "delete", second.id, "-w", str(home)) == (0, f"deleted run {second.id}\n")
    code, out = run("runs", "ls", "-e", "e", "-w", str(home))
    assert "first" in out
    assert "second" not in out
    code, out = run("runs", "ls", "-e", "e", "--all", "-w", str(home))
    assert "second (deleted)" in out
    assert run("runs", "restore", second.id, "-w", str(home))[0] == 0
    code, out = run("runs", "ls", "-e", "e", "-w", str(home))
    assert "second" in out
    code, out = run("runs", "delete", "01nosuchrun", "-w", str(home))
    assert code == 1
    assert "no run with id '01nosuchrun'" in out
