"""Data version control on a real workspace: SQLite or the PostgreSQL server, a blob folder."""

from __future__ import annotations

import os
import stat
import zlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from aidot import Workspace
from aidot.cli import cli
from aidot.data import Changes, DataVersionControl, read_pointer
from aidot.errors import (
    AlreadyExistsError,
    IntegrityError,
    InvalidArgumentError,
    NotFoundError,
    PathNotFoundError,
)
from tests.helpers import noise, numbers_from_processes


@pytest.fixture
def ws(tmp_path: Path, db_uri: str) -> Iterator[Workspace]:
    workspace = Workspace(tmp_path / "ws", db=db_uri)
    yield workspace
    workspace.close()


def make_tree(root: Path, files: int = 30) -> Path:
    for i in range(files):
        path = root / f"part{i % 3}" / f"file{i:03d}.txt"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(noise(100 + i, seed=i))
    (root / "part0" / "file000.txt").chmod(0o640)
    return root


def test_add_get_open_and_checkout(ws: Workspace, tmp_path: Path) -> None:
    data = make_tree(tmp_path / "data")
    v1 = ws.data.add(data, "corpus", "first cut")
    assert v1.ref == "corpus@v1"
    assert v1.file_count == 30
    assert v1.bytes == sum(100 + i for i in range(30))
    assert list(v1.files)[:2] == ["part0/file000.txt", "part0/file003.txt"]
    got = ws.data.get("corpus")
    assert (got.id, got.message, got.source) == (v1.id, "first cut", str(data))
    with got.open("part1/file001.txt") as f:
        assert f.read() == noise(101, seed=1)

    out = tmp_path / "out"
    assert ws.data.checkout("corpus@v1", out) == 30
    for path, entry in v1.files.items():
        assert (out / path).read_bytes() == (data / path).read_bytes()
        assert entry.size == (out / path).stat().st_size
    assert stat.S_IMODE((out / "part0" / "file000.txt").stat().st_mode) == 0o640
    linked = tmp_path / "linked"
    got.checkout(linked, link=True)
    assert (linked / "part2/file002.txt").stat().st_nlink >= 2
    with pytest.raises(InvalidArgumentError, match="not empty"):
        ws.data.checkout("corpus", out)
    assert ws.data.checkout("corpus", out, force=True) == 30


def test_versions_status_diff_and_an_unchanged_add(ws: Workspace, tmp_path: Path) -> None:
    data = make_tree(tmp_path / "data")
    v1 = ws.data.add(data, "corpus")
    assert not ws.data.status("corpus")
    (data / "part1" / "file004.txt").write_bytes(b"rewritten")
    (data / "part2" / "file005.txt").unlink()
    (data / "part2" / "new.txt").write_bytes(b"new")
    touched = data / "part0" / "file006.txt"
    os.utime(touched, ns=(1, 1))  # a new mtime, the same content: not a change
    assert ws.data.status("corpus") == Changes(
        added=["part2/new.txt"], modified=["part1/file004.txt"], deleted=["part2/file005.txt"]
    )
    v2 = ws.data.add(data, "corpus", "edits")
    assert v2.version == 2
    assert ws.data.diff("corpus@v1", "corpus@v2") == ws.data.diff(v1.ref, "corpus")
    assert ws.data.diff("corpus@v1", "corpus@v2").modified == ["part1/file004.txt"]
    assert ws.data.add(data, "corpus").version == 2  # nothing changed: no new version
    assert [v.version for v in ws.data.log("corpus")] == [2, 1]
    assert [(v.name, v.version) for v in ws.data.list()] == [("corpus", 2)]


def test_re_adding_hashes_only_changed_files(
    ws: Workspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = make_tree(tmp_path / "data", files=60)
    ws.data.add(data, "corpus")
    stored: list[list[str]] = []
    native = ws.blobs._inner

    class Spy:
        """The native store, recording what each batch put is asked to store."""

        def put_files(self, paths: list[str], progress: object = None) -> object:
            stored.append(list(map(str, paths)))
            return native.put_files(paths, progress)  # type: ignore[arg-type]

        def __getattr__(self, name: str) -> object:
            return getattr(native, name)

    monkeypatch.setattr(ws.blobs, "_inner", Spy())
    (data / "part0" / "file009.txt").write_bytes(b"changed")
    ws.data.add(data, "corpus")
    assert stored == [[str(data / "part0" / "file009.txt")]]
    from aidot import _core

    hashed: list[list[str]] = []
    real_hash = _core.hash_files
    monkeypatch.setattr(_core, "hash_files", lambda p: hashed.append(p) or real_hash(p))
    assert not ws.data.status("corpus")
    assert hashed == []  # an unchanged tree is compared by stat alone


def test_appending_to_a_large_file_stores_little(ws: Workspace, tmp_path: Path) -> None:
    data = tmp_path / "big"
    data.mkdir()
    big = data / "table.bin"
    big.write_bytes(noise(48 << 20, seed=3))
    ws.data.add(data, "tables")
    used = ws.blobs.usage().bytes
    with open(big, "ab") as f:
        f.write(noise(1 << 20, seed=4))
    ws.data.add(data, "tables")
    assert ws.blobs.usage().bytes - used < 8 << 20


def test_tags_refs_and_pointer_files(ws: Workspace, tmp_path: Path) -> None:
    data = make_tree(tmp_path / "data", files=3)
    v1 = ws.data.add(data, "corpus", pointer=True)
    pointer = tmp_path / "corpus.aidot"
    assert read_pointer(pointer) == "corpus@v1"
    assert "manifest: " + v1.manifest in pointer.read_text()
    ws.data.tag("corpus@v1", "gold")
    assert ws.data.get("corpus@gold").id == v1.id
    assert ws.data.get("corpus@1").id == v1.id
    assert ws.data.get("corpus@v1").tags == ["gold"]
    with pytest.raises(AlreadyExistsError, match=r"already has a tag 'gold' \(on corpus@v1\)"):
        ws.data.tag("corpus", "gold")
    with pytest.raises(InvalidArgumentError, match="looks like a version"):
        ws.data.tag("corpus", "v7")
    with pytest.raises(NotFoundError, match="no version 9"):
        ws.data.get("corpus@v9")
    with pytest.raises(NotFoundError, match="no tag 'silver'"):
        ws.data.get("corpus@silver")
    with pytest.raises(NotFoundError, match="no dataset named 'nothing'"):
        ws.data.get("nothing")
    with pytest.raises(InvalidArgumentError, match="dataset name"):
        ws.data.add(data, "../escape")
    with pytest.raises(PathNotFoundError):
        ws.data.add(tmp_path / "missing", "corpus")
    with pytest.raises(InvalidArgumentError, match="not an aidot pointer"):
        read_pointer(data / "part0" / "file000.txt")


def test_runs_record_their_inputs(ws: Workspace, tmp_path: Path) -> None:
    version = ws.data.add(make_tree(tmp_path / "data", files=2), "corpus")
    with ws.tracker.start_run("train") as run:
        run.log_input(version)
        run.log_input(version)  # once is enough; twice is harmless
        with pytest.raises(InvalidArgumentError, match="dataset version"):
            run.log_input("corpus@v1")
    assert [v.ref for v in ws.data.used_by(run.id)] == ["corpus@v1"]


def test_damage_and_unsafe_manifests_are_refused(ws: Workspace, tmp_path: Path) -> None:
    version = ws.data.add(make_tree(tmp_path / "data", files=2), "corpus")
    digest = version.files["part0/file000.txt"].digest
    path = ws.blobs.whole_path(digest)
    assert path is not None
    path.chmod(0o644)
    path.write_bytes(b"tampered")
    with pytest.raises(IntegrityError, match=digest):
        ws.data.verify("corpus@v1")

    import json

    from aidot.data import _manifest

    forged = {
        "format": "aidot.dataset",
        "version": 1,
        "paths": ["../../x"],
        "digests": digest,
        "sizes": [8],
        "modes": [420],
    }
    forged_digest = ws.blobs.put_bytes(zlib.compress(json.dumps(forged).encode()))
    version = ws.data.get("corpus@v1")  # a fresh object: its files are read from the manifest
    version.manifest = forged_digest
    with pytest.raises(IntegrityError, match="unsafe path"):
        _ = version.files
    newer = {**forged, "version": 2, "paths": [], "digests": "", "sizes": [], "modes": []}
    from aidot.errors import SchemaVersionError

    with pytest.raises(SchemaVersionError, match="newer aidot"):
        _manifest.decode(zlib.compress(json.dumps(newer).encode()), "corpus@v9")


def test_gc_keeps_every_version(ws: Workspace, tmp_path: Path) -> None:
    data = make_tree(tmp_path / "data", files=5)
    ws.data.add(data, "corpus")
    (data / "part0" / "file000.txt").write_bytes(b"v2")
    ws.data.add(data, "corpus")
    ws.blobs.put_bytes(b"garbage")
    report = ws.gc(grace_seconds=0)
    assert report.blobs_removed == 1
    assert ws.data.verify("corpus@v1") == 5
    assert ws.data.verify("corpus@v2") == 5


def test_the_data_commands(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIDOT_HOME", str(tmp_path / "ws"))
    data = make_tree(tmp_path / "data", files=4)

    def run(*args: str) -> tuple[int, str]:
        result = CliRunner().invoke(cli, ["data", *args], catch_exceptions=False)
        return result.exit_code, result.output

    code, out = run("add", str(data), "--name", "corpus", "-m", "first", "--pointer")
    assert (code, "corpus@v1 4 files" in out) == (0, True)
    (data / "part1" / "file001.txt").write_bytes(b"edited")
    code, out = run("status", "corpus")
    assert "modified  part1/file001.txt" in out
    assert run("add", str(data), "-n", "corpus")[0] == 0
    code, out = run("diff", "corpus@v1", "corpus@v2")
    assert "0 added, 1 modified, 0 deleted" in out
    assert "baseline" in run("tag", "corpus@v1", "baseline")[1]
    code, out = run("log", "corpus")
    assert "baseline" in out
    assert "first" in out
    assert "corpus" in run("ls")[1]
    code, out = run("checkout", str(tmp_path / "corpus.aidot"), str(tmp_path / "out"))
    assert (code, (tmp_path / "out" / "part1" / "file001.txt").read_bytes()) == (
        0,
        noise(101, seed=1),
    )
    assert "4 files verified" in run("verify", "corpus@v2")[1]
    code, out = run("checkout", "corpus@v2", str(tmp_path / "trusted"), "--no-verify")
    assert (code, (tmp_path / "trusted" / "part1" / "file001.txt").read_bytes()) == (0, b"edited")
    code, out = run("checkout", "corpus@v7", str(tmp_path / "none"))
    assert code == 1
    assert "gc done" in run("gc")[1]


def test_dvc_is_importable_from_the_package() -> None:
    assert DataVersionControl.__module__ == "aidot.data._dvc"


def test_the_stat_cache_is_only_a_cache(ws: Workspace, tmp_path: Path) -> None:
    data = make_tree(tmp_path / "data", files=6)
    (data / "odd\nname.txt").write_bytes(b"a newline in a file name")
    v1 = ws.data.add(data, "corpus")
    assert "odd\nname.txt" in v1.files
    states = list((ws.home / "statcache").glob("*.state"))
    assert len(states) == 1
    assert not ws.data.status("corpus")
    states[0].write_bytes(b"\x00garbage")  # damaged: ignored, everything hashed again
    assert not ws.data.status("corpus")
    states[0].unlink()
    (data / "part1" / "file001.txt").write_bytes(b"edited")
    assert ws.data.status("corpus").modified == ["part1/file001.txt"]
    assert ws.data.add(data, "corpus").version == 2


def test_checkout_verifies_unless_told_to_trust_the_store(ws: Workspace, tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    big = noise(6 << 20, seed=5)  # above the chunking threshold: stored as chunks
    (data / "big.bin").write_bytes(big)
    (data / "small.txt").write_bytes(b"small")
    version = ws.data.add(data, "mixed")
    assert ws.data.checkout("mixed", tmp_path / "trusted", verify=False) == 2
    assert (tmp_path / "trusted" / "big.bin").read_bytes() == big
    assert (tmp_path / "trusted" / "small.txt").read_bytes() == b"small"
    path = ws.blobs.whole_path(version.files["small.txt"].digest)
    assert path is not None
    path.chmod(0o644)
    path.write_bytes(b"SMALL")
    with pytest.raises(IntegrityError, match=version.files["small.txt"].digest):
        ws.data.checkout("mixed", tmp_path / "checked")
    assert not (tmp_path / "checked" / "small.txt").exists()
    assert ws.data.checkout("mixed", tmp_path / "unchecked", verify=False) == 2
    assert (tmp_path / "unchecked" / "small.txt").read_bytes() == b"SMALL"


def test_status_then_add_stores_a_same_size_edit(ws: Workspace, tmp_path: Path) -> None:
    # status hashes an edited file without storing it; the add after it must still store it.
    data = tmp_path / "d"
    data.mkdir()
    (data / "f.txt").write_bytes(b"aaaa\n")
    (data / "g.txt").write_bytes(b"same\n")
    ws.data.add(data, "r")
    (data / "f.txt").write_bytes(b"bbbb\n")
    assert ws.data.status("r").modified == ["f.txt"]
    v2 = ws.data.add(data, "r")
    assert v2.version == 2
    assert ws.data.verify("r@v2") == 2
    assert ws.blobs.get_bytes(v2.files["f.txt"].digest) == b"bbbb\n"
    assert not ws.data.status("r")  # and the tree state it left is clean and usable
    ws.data.checkout("r@v2", tmp_path / "out")
    assert (tmp_path / "out" / "f.txt").read_bytes() == b"bbbb\n"


def test_the_status_then_add_commands_lose_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AIDOT_HOME", str(tmp_path / "ws"))
    data = tmp_path / "d"
    data.mkdir()
    (data / "f.txt").write_bytes(b"aaaa\n")

    def run(*args: str) -> tuple[int, str]:
        result = CliRunner().invoke(cli, ["data", *args], catch_exceptions=False)
        return result.exit_code, result.output

    assert run("add", str(data), "-n", "r")[0] == 0
    (data / "f.txt").write_bytes(b"bbbb\n")
    assert "modified  f.txt" in run("status", "r")[1]
    assert run("add", str(data), "-n", "r")[0] == 0
    code, out = run("verify", "r@v2")
    assert (code, "1 files verified" in out) == (0, True), out


def test_processes_adding_to_one_dataset_at_once_get_distinct_numbers(
    ws: Workspace, tmp_path: Path
) -> None:
    # The dataset does not exist yet: the processes also race to create it.
    script = """
        import sys
        from pathlib import Path
        from aidot import Workspace
        ws = Workspace(sys.argv[1], db=sys.argv[2])
        folder = Path(sys.argv[3])
        numbers = []
        for i in range(10):
            (folder / "f.txt").write_text(f"{folder.name} {i}")
            numbers.append(ws.data.add(folder, "shared").version)
        print(",".join(map(str, numbers)))
        """
    argvs = []
    for p in range(4):
        folder = tmp_path / f"writer{p}"
        folder.mkdir()
        argvs.append([str(ws.home), ws.db_uri, str(folder)])
    numbers = numbers_from_processes(script, argvs)
    assert sorted(numbers) == list(range(1, 41))
    assert [v.version for v in ws.data.log("shared")] == list(range(40, 0, -1))
    assert ws.verify().ok


@pytest.mark.parametrize("dest_state", ["missing", "empty", "forced over files"])
def test_a_checkout_stopped_by_a_missing_blob_leaves_the_destination_as_it_was(
    ws: Workspace, tmp_path: Path, dest_state: str
) -> None:
    data = make_tree(tmp_path / "data", files=12)
    version = ws.data.add(data, "corpus")
    dest = tmp_path / "dest"
    before: dict[str, bytes] = {}
    if dest_state != "missing":
        dest.mkdir()
    if dest_state == "forced over files":
        (dest / "part0").mkdir()
        (dest / "part0" / "file000.txt").write_bytes(b"mine")
        (dest / "keep.txt").write_bytes(b"keep")
        before = {"part0/file000.txt": b"mine", "keep.txt": b"keep"}
    ws.blobs.delete(version.files["part2/file011.txt"].digest)
    with pytest.raises(NotFoundError):
        ws.data.checkout("corpus", dest, force=dest_state == "forced over files")
    if dest_state == "missing":
        assert not dest.exists()
    else:
        found = {p.relative_to(dest).as_posix(): p.read_bytes() for p in dest.rglob("*.txt")}
        assert found == before
    assert [p.name for p in tmp_path.iterdir() if "aidot-checkout" in p.name] == []
