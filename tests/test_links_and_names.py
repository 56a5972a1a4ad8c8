"""One rule for symbolic links and odd file names in everything aidot versions: dataset folders,
registered model folders and logged artifact folders.

A link to a file inside the folder is that file's content; a link out of the folder, to a
folder, or to nothing is refused with a message naming it (never followed outside, never
dropped silently); a backslash in a file name is refused with the reason and the fix.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from aidot import Workspace
from aidot.errors import InvalidArgumentError


def versioners(ws: Workspace) -> dict[str, Callable[[Path], object]]:
    def log(folder: Path) -> object:
        with ws.tracker.start_run("links") as run:
            run.log_artifacts(folder, artifact_path="out")
        return run

    return {
        "dataset": lambda folder: ws.data.add(folder, "links"),
        "model folder": lambda folder: ws.registry.create_model_version("links", path=folder),
        "artifacts": log,
    }


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    root = tmp_path / "folder"
    (root / "sub").mkdir(parents=True)
    (root / "sub" / "real.txt").write_bytes(b"real")
    (root / "alias.txt").symlink_to(root / "sub" / "real.txt")
    return root


@pytest.mark.parametrize("kind", ["dataset", "model folder", "artifacts"])
def test_a_link_to_a_file_inside_is_its_content(
    workspace: Workspace, folder: Path, kind: str
) -> None:
    versioners(workspace)[kind](folder)
    assert workspace.verify().ok
    if kind == "dataset":
        files = workspace.data.get("links").files
        assert files["alias.txt"].digest == files["sub/real.txt"].digest


@pytest.mark.parametrize("kind", ["dataset", "model folder", "artifacts"])
@pytest.mark.parametrize("link", ["outside", "folder", "dangling"])
def test_every_other_link_is_refused_by_name(
    workspace: Workspace, folder: Path, kind: str, link: str
) -> None:
    secret = folder.parent / "secret.txt"
    secret.write_bytes(b"not yours")
    targets = {"outside": secret, "folder": folder / "sub", "dangling": folder.parent / "gone"}
    why = {"outside": "outside", "folder": "a folder", "dangling": "does not exist"}[link]
    (folder / link).symlink_to(targets[link])
    with pytest.raises(InvalidArgumentError, match=why) as refused:
        versioners(workspace)[kind](folder)
    assert str(folder / link) in str(refused.value)
    assert "cp -L" in str(refused.value)


@pytest.mark.parametrize("kind", ["dataset", "model folder", "artifacts"])
def test_a_backslash_in_a_file_name_is_refused_with_the_reason(
    workspace: Workspace, tmp_path: Path, kind: str
) -> None:
    root = tmp_path / "odd"
    root.mkdir()
    (root / "a\\b.txt").write_bytes(b"x")
    with pytest.raises(InvalidArgumentError, match="backslash"):
        versioners(workspace)[kind](root)
    with (
        workspace.tracker.start_run("single") as run,
        pytest.raises(InvalidArgumentError, match="backslash"),
    ):
        run.log_artifact(root / "a\\b.txt")
