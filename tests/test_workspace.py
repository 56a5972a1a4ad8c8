"""Workspace resolution and the two stores it bundles."""

from __future__ import annotations

from pathlib import Path

import pytest

from aidot import Workspace
from aidot.errors import InvalidArgumentError


def test_default_is_dot_aidot_in_the_current_folder(tmp_path: Path) -> None:
    ws = Workspace()
    assert ws.home == tmp_path / ".aidot"
    assert ws.db_uri == f"sqlite:///{tmp_path / '.aidot' / 'aidot.db'}"
    assert ws.blob_root == tmp_path / ".aidot" / "blobs"
    assert not ws.home.exists()  # nothing is created before first use


def test_environment_then_keywords(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("AIDOT_HOME", str(tmp_path / "home"))
    assert Workspace().home == tmp_path / "home"
    monkeypatch.setenv("AIDOT_DB_URI", f"sqlite:///{tmp_path / 'other.db'}")
    monkeypatch.setenv("AIDOT_BLOB_URI", f"file://{tmp_path / 'shared'}")
    ws = Workspace()
    assert ws.db_uri.endswith("other.db")
    assert ws.blob_root == tmp_path / "shared"
    explicit = Workspace(tmp_path / "mine")
    assert explicit.db_uri.endswith("mine/aidot.db")
    assert Workspace(db="sqlite:///x.db").db_uri == "sqlite:///x.db"


def test_init_creates_both_stores(workspace: Workspace) -> None:
    workspace.init()
    assert (workspace.home / "aidot.db").exists()
    assert (workspace.home / "blobs" / "AIDOT_BLOBS").exists()


def test_gc_keeps_what_the_workspace_references(workspace: Workspace) -> None:
    kept = workspace.blobs.put_bytes(b"dataset shard")
    dropped = workspace.blobs.put_bytes(b"scratch")
    workspace.store.add_blob_refs("dataset/v1", [kept])
    report = workspace.gc(grace_seconds=0)
    assert report.blobs_removed == 1
    assert kept in workspace.blobs
    assert dropped not in workspace.blobs


def test_postgres_workspace(postgres_uri: str, tmp_path: Path) -> None:
    with Workspace(db=postgres_uri, blobs=tmp_path / "blobs") as ws:
        digest = ws.blobs.put_bytes(b"shared")
        ws.store.add_blob_refs("owner", [digest])
        assert ws.store.dialect == "postgresql"
        assert ws.store.live_digests() == {digest}


def test_remote_blob_uris_are_refused_clearly() -> None:
    with pytest.raises(InvalidArgumentError, match="local folders"):
        Workspace(blobs="s3://bucket/prefix")
