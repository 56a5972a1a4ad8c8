"""Several processes at once, and processes killed with SIGKILL in the middle of a put."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import blake3

from aidot import BlobStore
from tests.helpers import make_files, noise

CHUNKING = "chunk_threshold=64 << 10, min_chunk=4 << 10, avg_chunk=16 << 10, max_chunk=64 << 10"


def python(script: str, *args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(script), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def test_concurrent_writers_in_several_processes_lose_nothing(tmp_path: Path) -> None:
    files = make_files(tmp_path / "data", 150, 5000)
    big = tmp_path / "data" / "big.bin"
    big.write_bytes(noise(2_000_000, 7))
    files.append(big)
    listing = tmp_path / "files.txt"
    listing.write_text("\n".join(map(str, files)))
    writer = f"""
        import sys
        from aidot import BlobStore
        store = BlobStore(sys.argv[1], {CHUNKING})
        paths = open(sys.argv[2]).read().split("\\n")
        for _ in range(3):
            store.put_files(paths)
            for path in paths[::10]:
                store.put_bytes(open(path, "rb").read())
        print("ok")
    """
    procs = [python(writer, str(tmp_path / "blobs"), str(listing)) for _ in range(4)]
    for proc in procs:
        out, err = proc.communicate(timeout=240)
        assert proc.returncode == 0, err.decode()
        assert out.strip() == b"ok"
    store = BlobStore(tmp_path / "blobs", chunk_threshold=64 << 10)
    expected = {blake3.blake3(p.read_bytes()).hexdigest() for p in files}
    assert set(store) == expected
    assert store.verify().ok
    assert store.get_bytes(blake3.blake3(big.read_bytes()).hexdigest()) == big.read_bytes()
    assert not temp_files(tmp_path / "blobs")


def temp_files(root: Path) -> list[Path]:
    """Files of writes in progress (or interrupted) anywhere in the store."""
    return list(root.rglob(".put-*"))


def kill_when_writing(proc: subprocess.Popen[bytes], root: Path, timeout: float = 60) -> None:
    """SIGKILLs ``proc`` as soon as it has temporary files in flight in the store at ``root``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            _, err = proc.communicate()
            raise AssertionError(f"the writer finished before it could be killed: {err!r}")
        if temp_files(root):
            os.kill(proc.pid, signal.SIGKILL)
            proc.communicate(timeout=30)
            return
        time.sleep(0.001)
    proc.kill()
    proc.communicate()
    raise AssertionError("the writer never started writing")


def test_kill_9_during_a_large_put_leaves_no_partial_blob(tmp_path: Path) -> None:
    data = noise(96 << 20, 3)
    path = tmp_path / "weights.bin"
    path.write_bytes(data)
    digest = blake3.blake3(data).hexdigest()
    root = tmp_path / "blobs"
    earlier = BlobStore(root).put_bytes(b"stored before the crash")
    proc = python(
        "import sys; from aidot import BlobStore; BlobStore(sys.argv[1]).put_file(sys.argv[2])",
        str(root),
        str(path),
    )
    kill_when_writing(proc, root)
    assert proc.returncode == -signal.SIGKILL
    assert temp_files(root)  # what the killed writer was writing
    store = BlobStore(root)
    assert not temp_files(root)  # gone at the next open: their process is dead
    assert digest not in store  # the manifest is renamed last, after every chunk
    assert list(store) == [earlier]
    assert store.verify().ok
    assert store.get_bytes(earlier) == b"stored before the crash"
    # The next put of the same content succeeds and is complete.
    assert store.put_file(path) == digest
    assert store.get_bytes(digest) == data
    assert store.verify().ok


def test_kill_9_during_a_batch_leaves_nothing_visible(tmp_path: Path) -> None:
    files = make_files(tmp_path / "data", 3000, 4096)
    listing = tmp_path / "files.txt"
    listing.write_text("\n".join(map(str, files)))
    root = tmp_path / "blobs"
    BlobStore(root)
    proc = python(
        """
        import sys
        from aidot import BlobStore
        BlobStore(sys.argv[1]).put_files(open(sys.argv[2]).read().split("\\n"))
        """,
        str(root),
        str(listing),
    )
    kill_when_writing(proc, root)
    assert temp_files(root)
    store = BlobStore(root)
    assert not temp_files(root)  # the dead writer's temporaries go at the next open
    visible = set(store)
    # Whatever became visible is complete (a batch renames only after its data is durable).
    assert store.verify().ok
    assert len(visible) < len(files)
    digests = store.put_files(files)
    assert set(store) == set(digests)
    assert store.verify().ok
    assert store.gc(digests, grace_seconds=0).temp_removed == 0
    assert not temp_files(root)
