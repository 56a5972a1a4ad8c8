"""Workspace verification: every reference resolves to content with its digest, the owner of a
lost blob is named, and a damaged SQLite file is reported (``ws.verify()``, ``aidot verify``,
``aidot blobs verify``, ``aidot data verify``)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from aidot import CheckpointManager, Workspace
from aidot.cli import cli
from aidot.errors import IntegrityError


@pytest.fixture
def ws(tmp_path: Path, db_uri: str) -> Iterator[Workspace]:
    workspace = Workspace(tmp_path / "ws", db=db_uri)
    yield workspace
    workspace.close()


def fill(ws: Workspace, tmp_path: Path) -> dict[str, str]:
    """One of each owner: a dataset version, a run artifact, a checkpoint, a model version;
    returns a digest of each."""
    data = tmp_path / "data"
    data.mkdir()
    (data / "a.txt").write_bytes(b"alpha")
    (data / "b.txt").write_bytes(b"beta")
    version = ws.data.add(data, "corpus")
    with ws.tracker.start_run("train") as run:
        run.log_text("loss went down", "notes/summary.txt")
        manager = CheckpointManager(run, monitor=None, async_save=False)
        future = manager.save({"w": np.arange(16, dtype=np.float32)}, step=3)
        assert future is not None
        info = future.result()
        model = tmp_path / "model"
        model.mkdir()
        (model / "weights.bin").write_bytes(b"weights")
        mv = ws.registry.create_model_version("churn", path=model, run=run)
    artifact = ws.tracker.list_artifacts(run.id)[0].digest
    return {
        "dataset": version.files["b.txt"].digest,
        "artifact": artifact,
        "checkpoint": info.manifest,
        "model": mv.source["manifest"],
        "run": run.id,
        "checkpoint_id": info.id,
    }


def damage(ws: Workspace, digest: str) -> None:
    path = ws.blobs.whole_path(digest)
    assert path is not None
    path.chmod(0o644)
    path.write_bytes(b"not what was stored")


def test_a_sound_workspace_verifies(ws: Workspace, tmp_path: Path) -> None:
    fill(ws, tmp_path)
    report = ws.verify()
    assert report.ok, report.problems
    assert report.database == []
    assert report.references_checked >= 6
    assert report.blobs_checked >= 6


def test_lost_and_damaged_content_is_reported_by_owner(ws: Workspace, tmp_path: Path) -> None:
    digests = fill(ws, tmp_path)
    ws.blobs.delete(digests["dataset"])
    ws.blobs.delete(digests["artifact"])
    damage(ws, digests["checkpoint"])
    ws.blobs.delete(digests["model"])
    report = ws.verify()
    assert not report.ok
    found = {(p.owner, p.digest): p.detail for p in report.problems}
    assert found[("dataset corpus@v1 (b.txt)", digests["dataset"])] == ("is missing from the store")
    run = digests["run"]
    assert (f"run {run} artifact notes/summary.txt", digests["artifact"]) in found
    checkpoint = f"checkpoint {digests['checkpoint_id']} of run {run} (step 3)"
    assert found[(checkpoint, digests["checkpoint"])].startswith("is damaged: ")
    assert ("model churn/1", digests["model"]) in found
    assert len(report.problems) == 4
    with pytest.raises(IntegrityError, match=r"corpus@v1: 1 of 2 files cannot be restored: b\.txt"):
        ws.data.verify("corpus@v1")


def test_the_verify_commands_name_owners_and_exit_non_zero(tmp_path: Path) -> None:
    ws = Workspace(tmp_path / "ws")
    digests = fill(ws, tmp_path)
    home = str(ws.home)
    runner = CliRunner()
    for args in (["verify"], ["blobs", "verify"]):
        result = runner.invoke(cli, ["--workspace", home, *args], catch_exceptions=False)
        assert (result.exit_code, "ok database sound" in result.output) == (0, True), result.output
    ws.blobs.delete(digests["dataset"])
    for args in (["--workspace", home, "verify"], ["blobs", "verify", "--workspace", home]):
        result = runner.invoke(cli, args, catch_exceptions=False)
        assert result.exit_code == 1
        assert f"lost dataset corpus@v1 (b.txt): blob {digests['dataset']}" in result.output
    result = runner.invoke(cli, ["-w", home, "data", "verify", "corpus@v1"])
    assert result.exit_code == 1
    assert "b.txt" in result.output
    result = runner.invoke(cli, ["-w", home, "blobs", "stats"], catch_exceptions=False)
    assert "referenced" in result.output
    ws.close()


def test_a_damaged_sqlite_file_is_reported(tmp_path: Path) -> None:
    ws = Workspace(tmp_path / "ws")
    # Enough references that the middle of the file holds B-tree pages of their table.
    ws.store.add_blob_refs("test", [f"{i:064x}" for i in range(20_000)])
    ws.close()
    path = ws.home / "aidot.db"
    size = path.stat().st_size
    with open(path, "r+b") as f:
        f.seek(size // 2 // 4096 * 4096 + 100)
        f.write(os.urandom(2_000))
    again = Workspace(tmp_path / "ws")
    report = again.verify()
    assert not report.ok
    assert any("page" in line or "malformed" in line for line in report.database)
    result = CliRunner().invoke(cli, ["verify", "-w", str(again.home)], catch_exceptions=False)
    assert result.exit_code == 1
    assert "database" in result.output
    again.close()
