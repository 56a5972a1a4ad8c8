"""Writes stay inside their root: a forged artifact row and a symbolic link already in a
checkout's destination are refused, and nothing is written outside."""

from __future__ import annotations

from pathlib import Path

import pytest

from aidot import Workspace
from aidot.errors import IntegrityError, InvalidArgumentError


def test_checkout_force_refuses_to_write_through_a_linked_folder(
    workspace: Workspace, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    (data / "images").mkdir(parents=True)
    (data / "images" / "cat.txt").write_bytes(b"meow")
    (data / "top.txt").write_bytes(b"top")
    workspace.data.add(data, "pets")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    dest = tmp_path / "dest"
    dest.mkdir()
    (dest / "images").symlink_to(elsewhere, target_is_directory=True)
    with pytest.raises(InvalidArgumentError, match="symbolic link"):
        workspace.data.checkout("pets", dest, force=True)
    assert list(elsewhere.iterdir()) == []
    assert not (dest / "top.txt").exists()  # refused before anything was written
    (dest / "images").unlink()
    assert workspace.data.checkout("pets", dest, force=True) == 2
    assert (dest / "images" / "cat.txt").read_bytes() == b"meow"


def test_download_refuses_a_forged_artifact_row(workspace: Workspace, tmp_path: Path) -> None:
    import sqlalchemy as sa

    from aidot.store._schema import run_artifacts

    with workspace.tracker.start_run("e") as run:
        run.log_text("fine", "d/ok.txt")
    with workspace.store.write() as conn:
        conn.execute(
            sa.update(run_artifacts)
            .where(run_artifacts.c.run_id == run.id)
            .values(path="d/../../../x.txt")
        )
    dest = tmp_path / "a" / "b" / "dest"
    dest.mkdir(parents=True)
    with pytest.raises(IntegrityError, match="not a clean relative path"):
        workspace.tracker.download_artifacts(run.id, "d", dest)
    assert not (tmp_path / "x.txt").exists()
    assert not (tmp_path / "a" / "x.txt").exists()


def test_download_refuses_to_write_through_a_linked_folder(
    workspace: Workspace, tmp_path: Path
) -> None:
    with workspace.tracker.start_run("e") as run:
        run.log_text("fine", "plots/loss.txt")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    dest = tmp_path / "dest"
    dest.mkdir()
    (dest / "plots").symlink_to(elsewhere, target_is_directory=True)
    with pytest.raises(InvalidArgumentError, match="symbolic link"):
        workspace.tracker.download_artifacts(run.id, "plots", dest)
    assert list(elsewhere.iterdir()) == []
