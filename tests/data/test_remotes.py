"""Pushing and pulling dataset versions: through a folder remote and a real S3-protocol server
(moto on loopback, started by .ci/run), between two workspaces as between two machines."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from aidot import Workspace
from aidot.cli import cli
from aidot.errors import (
    AlreadyExistsError,
    InvalidArgumentError,
    NotFoundError,
    RemoteError,
)
from tests.helpers import noise


@pytest.fixture(params=["folder", "s3"])
def remote(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[str, dict[str, str]]:
    """The same tests on a file:// remote and on the S3 server."""
    if request.param == "folder":
        return f"file://{tmp_path / 'remote'}", {}
    s3: tuple[str, dict[str, str]] = request.getfixturevalue("s3_url")
    return s3


@pytest.fixture
def machines(tmp_path: Path) -> Iterator[tuple[Workspace, Workspace]]:
    here, there = Workspace(tmp_path / "here"), Workspace(tmp_path / "there")
    yield here, there
    here.close()
    there.close()


def make_tree(root: Path, files: int = 120) -> Path:
    for i in range(files):
        path = root / f"d{i % 4}" / f"f{i:04d}.bin"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(noise(500 + i, seed=i))
    (root / "big.bin").write_bytes(noise(6 << 20, seed=999))  # chunked
    return root


def test_push_then_pull_into_another_workspace(
    machines: tuple[Workspace, Workspace],
    remote: tuple[str, dict[str, str]],
    tmp_path: Path,
) -> None:
    here, there = machines
    url, options = remote
    here.data.remotes.add("origin", url, options)
    there.data.remotes.add("origin", url, options)
    data = make_tree(tmp_path / "data")
    v1 = here.data.add(data, "corpus", "first")
    here.data.tag("corpus@v1", "gold")
    first = here.data.push("corpus@v1")
    assert first.objects > 100
    assert here.data.push("corpus@v1").objects == 0  # the remote's index says it is all there

    pulled = there.data.pull("corpus@gold", "origin")
    assert (pulled.ref, pulled.manifest, pulled.tags) == ("corpus@v1", v1.manifest, ["gold"])
    out = tmp_path / "out"
    there.data.checkout("corpus@v1", out)
    assert (out / "big.bin").read_bytes() == (data / "big.bin").read_bytes()
    assert (out / "d3" / "f0007.bin").read_bytes() == noise(507, seed=7)
    assert there.data.verify("corpus@v1") == 121

    # A new version pushes only what changed: one small file and the big file's last chunk.
    (data / "d0" / "f0000.bin").write_bytes(b"edited")
    with open(data / "big.bin", "ab") as f:
        f.write(noise(100_000, seed=5))
    here.data.add(data, "corpus", "second")
    second = here.data.push("corpus")
    assert second.bytes < 3 << 20, second
    latest = there.data.pull("corpus", "origin")
    assert latest.ref == "corpus@v2"
    assert there.data.pull("corpus@v2", "origin").id == latest.id  # already here: nothing new


def test_conflicts_and_missing_things_are_reported(
    machines: tuple[Workspace, Workspace],
    remote: tuple[str, dict[str, str]],
    tmp_path: Path,
) -> None:
    here, there = machines
    url, options = remote
    here.data.remotes.add("origin", url, options)
    here.data.add(make_tree(tmp_path / "a", files=3), "corpus")
    here.data.push("corpus", "origin")
    there.data.add(make_tree(tmp_path / "b", files=5), "corpus")  # another corpus@v1
    there.data.remotes.add("origin", url, options)
    with pytest.raises(AlreadyExistsError, match="corpus@v1 here differs"):
        there.data.pull("corpus@v1")
    with pytest.raises(NotFoundError, match="has no dataset named 'nothing'"):
        there.data.pull("nothing")
    with pytest.raises(NotFoundError, match="no corpus@v9"):
        there.data.pull("corpus@v9")
    with pytest.raises(NotFoundError, match="no remote named 'elsewhere'"):
        there.data.pull("corpus", "elsewhere")
    with pytest.raises(AlreadyExistsError, match="exists already"):
        here.data.remotes.add("origin", url, options)
    with pytest.raises(InvalidArgumentError, match="needs a scheme"):
        here.data.remotes.add("bad", "bucket/prefix")
    with pytest.raises(InvalidArgumentError, match="does not speak"):
        here.data.push("corpus", "ftp://host/path")


def test_a_remote_that_lost_content_is_an_error_naming_it(tmp_path: Path) -> None:
    here = Workspace(tmp_path / "here")
    there = Workspace(tmp_path / "there")
    url = f"file://{tmp_path / 'remote'}"
    here.data.add(make_tree(tmp_path / "a", files=2), "corpus")
    here.data.push("corpus", url)
    victim = next((tmp_path / "remote" / "objects").iterdir())
    victim.write_bytes(b"damaged")
    with pytest.raises(RemoteError, match="damaged"):
        there.data.pull("corpus", url)
    assert there.data.list() == []  # nothing recorded
    here.close()
    there.close()


def test_the_remote_commands(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIDOT_HOME", str(tmp_path / "ws"))
    url = f"file://{tmp_path / 'remote'}"

    def run(*args: str) -> tuple[int, str]:
        result = CliRunner().invoke(cli, ["data", *args], catch_exceptions=False)
        return result.exit_code, result.output

    run("add", str(make_tree(tmp_path / "data", files=4)), "--name", "corpus")
    assert run("remote", "add", "origin", url, "-o", "aws_region=eu-west-1")[0] == 0
    assert "origin" in run("remote", "ls")[1]
    code, out = run("push", "corpus@v1")
    assert (code, "corpus@v1 pushed" in out) == (0, True)
    monkeypatch.setenv("AIDOT_HOME", str(tmp_path / "ws2"))
    code, out = run("pull", "corpus", "--remote", url)
    assert (code, "corpus@v1 5 files" in out) == (0, True)
    assert run("remote", "rm", "nothing")[0] == 1
