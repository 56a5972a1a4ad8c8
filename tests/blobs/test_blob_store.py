"""The Python face of the blob store, against a real folder."""

from __future__ import annotations

import os
from pathlib import Path

import blake3
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aidot import BlobStore
from aidot.blobs import hash_bytes
from aidot.errors import (
    BlobNotFoundError,
    IntegrityError,
    InvalidArgumentError,
    InvalidDigestError,
    NotAFileError,
    NotAStoreError,
    PathNotFoundError,
    PathPermissionError,
)
from tests.helpers import make_files, noise, unreadable


def reference_digest(data: bytes) -> str:
    """What `b3sum` prints, from the reference BLAKE3 implementation."""
    return blake3.blake3(data).hexdigest()


@pytest.mark.parametrize("size", [0, 1, 1000, 64 << 10, (64 << 10) + 1, 700_000])
def test_digest_is_the_b3sum_of_the_content(store: BlobStore, tmp_path: Path, size: int) -> None:
    data = noise(size, size)
    path = tmp_path / "file.bin"
    path.write_bytes(data)
    digest = store.put_file(path)
    assert digest == reference_digest(data) == hash_bytes(data)
    assert store.put_bytes(data) == digest
    assert store.get_bytes(digest) == data
    stat = store.stat(digest)
    assert (stat.size, stat.chunked) == (size, size > 64 << 10)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.binary(max_size=200_000))
def test_any_bytes_round_trip(store: BlobStore, data: bytes) -> None:
    digest = store.put_bytes(data)
    assert digest == reference_digest(data)
    assert store.get_bytes(digest) == data
    buffer = bytearray(len(data))
    assert store.read_into(digest, buffer) == len(data)
    assert bytes(buffer) == data


def test_bytes_like_objects_are_accepted(store: BlobStore) -> None:
    data = noise(5000)
    digest = store.put_bytes(data)
    assert store.put_bytes(bytearray(data)) == digest
    assert store.put_bytes(memoryview(data)) == digest
    assert store.put_bytes(np.frombuffer(data, dtype=np.uint8)) == digest
    with pytest.raises(InvalidArgumentError, match="bytes-like"):
        store.put_bytes("text")  # type: ignore[arg-type]


def test_read_into_fills_numpy_arrays_in_place(store: BlobStore) -> None:
    weights = np.arange(300_000, dtype=np.float32)
    digest = store.put_bytes(weights.tobytes())
    assert store.stat(digest).chunked
    out = np.empty_like(weights)
    assert store.read_into(digest, out) == weights.nbytes
    np.testing.assert_array_equal(out, weights)
    larger = np.zeros(weights.nbytes + 10, dtype=np.uint8)
    assert store.read_into(digest, larger) == weights.nbytes
    with pytest.raises(InvalidArgumentError, match="too small"):
        store.read_into(digest, bytearray(10))
    with pytest.raises(InvalidArgumentError, match="writable"):
        store.read_into(digest, bytes(weights.nbytes))
    with pytest.raises(InvalidArgumentError, match="contiguous"):
        store.read_into(digest, np.zeros((weights.nbytes, 2), dtype=np.uint8)[:, 0])


def test_put_files_reports_progress_and_deduplicates(store: BlobStore, tmp_path: Path) -> None:
    paths = make_files(tmp_path / "data", 40, 3000)
    (tmp_path / "data" / "copy.bin").write_bytes(paths[0].read_bytes())
    paths.append(tmp_path / "data" / "copy.bin")
    big = tmp_path / "data" / "big.bin"
    big.write_bytes(noise(500_000, 99))
    paths.append(big)
    calls: list[tuple[int, int, int]] = []
    reports = store.put_files_report(paths, progress=lambda *a: calls.append(a))
    assert [r.digest for r in reports] == [reference_digest(p.read_bytes()) for p in paths]
    assert reports[40].digest == reports[0].digest
    assert sum(r.bytes_written > 0 for r in reports[:41]) == 40
    assert calls[0] == (0, 0, 0)
    assert calls[-1] == (40 * 3000 + 3000 + 500_000, 40 * 3000 + 3000 + 500_000, 42)
    again = store.put_files_report(paths)
    assert all(r.bytes_written == 0 for r in again)
    assert store.put_files(paths) == [r.digest for r in reports]


def test_a_failing_progress_callback_cancels_the_batch(store: BlobStore, tmp_path: Path) -> None:
    paths = make_files(tmp_path / "data", 5, 100)

    def explode(*_: int) -> None:
        raise RuntimeError("stop")

    with pytest.raises(RuntimeError, match="stop"):
        store.put_files(paths, progress=explode)
    assert list(store) == []


def test_appending_to_a_large_file_stores_only_new_chunks(tmp_path: Path) -> None:
    store = BlobStore(tmp_path / "blobs")  # default chunking: 1 MiB average chunks
    data = bytearray(noise(32 << 20, 1))
    path = tmp_path / "big.bin"
    path.write_bytes(data)
    store.put_file(path)
    before = store.usage().bytes
    with path.open("ab") as fh:
        fh.write(noise(1 << 20, 2))
    digest = store.put_file(path)
    added = store.usage().bytes - before
    assert added < 8 << 20, f"appending 1 MiB stored {added} bytes"
    assert store.get_bytes(digest) == path.read_bytes()


def test_export_copies_and_links(store: BlobStore, tmp_path: Path) -> None:
    small = store.put_bytes(b"model card")
    large_data = noise(300_000, 5)
    large = store.put_bytes(large_data)
    dest = tmp_path / "out" / "card.md"
    dest.parent.mkdir()
    assert store.export(small, dest) in ("reflink", "copy")
    assert dest.read_bytes() == b"model card"
    dest.write_bytes(b"edited")  # the export is the user's, writable and independent
    assert store.get_bytes(small) == b"model card"
    assert store.export(small, dest, link=True) == "hardlink"
    assert dest.read_bytes() == b"model card"
    assert not os.access(dest, os.W_OK) or os.geteuid() == 0  # read-only unless root
    assert store.export(large, tmp_path / "large.bin", link=True) == "copy"
    assert (tmp_path / "large.bin").read_bytes() == large_data
    with pytest.raises(InvalidArgumentError, match="folder"):
        store.export(small, tmp_path)
    with pytest.raises(PathNotFoundError):
        store.export(small, tmp_path / "missing-dir" / "x")


def test_membership_iteration_delete_and_usage(store: BlobStore) -> None:
    digests = {store.put_bytes(noise(100, i)) for i in range(5)}
    digests.add(store.put_bytes(noise(200_000, 9)))
    assert set(store) == digests
    assert list(store) == sorted(digests)
    assert len(store) == 6
    first = sorted(digests)[0]
    assert first in store
    assert store.has(first)
    assert store.usage().blobs == 6
    assert store.usage().chunks > 1
    assert store.delete(first) is True
    assert store.delete(first) is False
    assert first not in store


def test_gc_keeps_live_blobs(store: BlobStore) -> None:
    keep = store.put_bytes(noise(300_000, 1))
    drop = store.put_bytes(noise(300_000, 2))
    drop_small = store.put_bytes(b"temporary")
    assert store.gc([keep]).blobs_removed == 0  # young blobs are spared by default
    report = store.gc([keep], grace_seconds=0)
    assert (report.blobs_removed, report.bytes_freed > 300_000) == (2, True)
    assert report.chunks_removed > 0
    assert set(store) == {keep}
    assert drop not in store
    assert drop_small not in store
    assert store.verify().ok
    with pytest.raises(InvalidArgumentError, match="grace"):
        store.gc([], grace_seconds=-1)


def corrupt_file(path: Path) -> None:
    path.chmod(0o644)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


def test_damaged_blobs_are_reported_and_refused(store: BlobStore) -> None:
    whole = store.put_bytes(b"precious weights")
    chunked = store.put_bytes(noise(300_000, 3))
    fine = store.put_bytes(b"untouched")
    corrupt_file(store.root / "objects" / whole[:2] / whole)
    chunk = next(p for p in (store.root / "chunks").rglob("*") if p.is_file())
    corrupt_file(chunk)
    report = store.verify()
    assert report.checked == 3
    assert set(report.corrupt) == {whole, chunked}
    assert "damaged" in report.corrupt[chunked]
    assert store.verify(fine).ok
    with pytest.raises(IntegrityError, match=whole):
        store.get_bytes(whole)
    with pytest.raises(IntegrityError):
        store.get_bytes(chunked)
    with pytest.raises(IntegrityError):
        store.read_into(whole, bytearray(100))
    assert store.get_bytes(fine) == b"untouched"
    # Putting the original content again does not repair a same-named damaged file silently,
    # but deleting and re-putting does.
    store.delete(whole)
    store.put_bytes(b"precious weights")
    assert store.get_bytes(whole) == b"precious weights"


def test_bad_input_raises_specific_errors(store: BlobStore, tmp_path: Path) -> None:
    kept = store.put_bytes(b"already stored")
    with pytest.raises(PathNotFoundError, match=r"missing\.bin"):
        store.put_file(tmp_path / "missing.bin")
    with pytest.raises(NotAFileError, match="not a regular file"):
        store.put_file(tmp_path)
    with pytest.raises(NotAFileError):
        store.put_files([tmp_path])
    secret = tmp_path / "secret.bin"
    secret.write_bytes(b"no peeking")
    with unreadable(secret), pytest.raises(PathPermissionError, match=r"secret\.bin"):
        store.put_file(secret)
    with pytest.raises(InvalidDigestError, match="64 hexadecimal"):
        store.get_bytes("not-a-digest")
    with pytest.raises(InvalidDigestError):
        store.has("abc")
    absent = reference_digest(b"never stored")
    with pytest.raises(BlobNotFoundError, match=absent):
        store.get_bytes(absent)
    with pytest.raises(BlobNotFoundError):
        store.verify(absent)
    with pytest.raises(InvalidArgumentError, match="path"):
        store.put_file(42)  # type: ignore[arg-type]
    assert list(store) == [kept]
    assert store.get_bytes(kept) == b"already stored"


def test_a_folder_with_other_files_is_not_taken_over(tmp_path: Path) -> None:
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep me")
    with pytest.raises(NotAStoreError, match="not an aidot blob store"):
        BlobStore(tmp_path / "mine")
    assert (tmp_path / "mine" / "notes.txt").read_text() == "keep me"
    with pytest.raises(InvalidArgumentError, match="chunking"):
        BlobStore(tmp_path / "x", min_chunk=3)


def test_uppercase_digests_are_accepted(store: BlobStore) -> None:
    digest = store.put_bytes(b"case")
    assert store.get_bytes(digest.upper()) == b"case"
    assert store.stat(digest.upper()).digest == digest


def test_large_batches_pack_small_blobs(store: BlobStore, tmp_path: Path) -> None:
    paths = make_files(tmp_path / "many", 200, 2000)
    digests = store.put_files(paths)
    packs = store.root / "packs"
    assert len(list(packs.glob("*.pack"))) == 1
    assert len(list(packs.glob("*.idx"))) == 1
    assert not [p for p in (store.root / "objects").rglob("*") if p.is_file()]
    reopened = BlobStore(store.root)
    assert set(reopened) == set(digests)
    for path, digest in zip(paths, digests, strict=True):
        assert reopened.get_bytes(digest) == path.read_bytes()
        assert reopened.stat(digest).size == 2000
    out = bytearray(2000)
    assert reopened.read_into(digests[3], out) == 2000
    assert bytes(out) == paths[3].read_bytes()
    assert reopened.export(digests[4], tmp_path / "out.bin", link=True) == "copy"
    assert reopened.verify().ok
    assert reopened.delete(digests[0])
    assert digests[0] not in store
    assert store.get_bytes(digests[1]) == paths[1].read_bytes()  # the old handle follows
    assert store.gc(digests[:10], grace_seconds=0).blobs_removed == 190
    assert set(store) == set(digests[1:10])


def test_put_buffers_stores_each_whole_for_memory_mapping(store: BlobStore) -> None:
    weights = np.arange(100_000, dtype=np.float32).reshape(100, 1000)  # above the chunk size
    reports = store.put_buffers([weights, b"meta", memoryview(b""), weights])
    assert [r.chunks for r in reports] == [1, 1, 1, 1]
    assert reports[0].digest == hash_bytes(weights.tobytes())
    assert reports[3].bytes_written == 0  # the same array twice is written once
    path = store.whole_path(reports[0].digest)
    assert path is not None
    mapped = np.memmap(path, dtype=np.float32, mode="r", shape=(100, 1000))
    np.testing.assert_array_equal(mapped, weights)
    store.verify_digests(r.digest for r in reports)
    assert store.put_buffers([weights])[0].bytes_written == 0
    with pytest.raises(InvalidArgumentError, match="C-contiguous"):
        store.put_buffers([weights[:, ::2]])
    # Chunked content (a plain put of a large blob) has no single file.
    assert store.whole_path(store.put_bytes(noise(200_000, 5))) is None


def test_verify_digests_names_damage(store: BlobStore) -> None:
    digest = store.put_buffers([noise(300_000, 9)])[0].digest
    path = store.whole_path(digest)
    assert path is not None
    path.chmod(0o644)
    data = bytearray(path.read_bytes())
    data[1000] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(IntegrityError, match=digest):
        store.verify_digests([digest])
    with pytest.raises(BlobNotFoundError):
        store.verify_digests([hash_bytes(b"never stored")])


def test_one_damaged_pack_index_takes_nothing_down(tmp_path: Path) -> None:
    from aidot import CheckpointManager, Workspace

    ws = Workspace(tmp_path / "ws")
    data = tmp_path / "data"
    data.mkdir()
    for i in range(100):  # enough small files for the add to pack them
        (data / f"f{i:03d}.txt").write_bytes(f"file {i}".encode())
    ws.data.add(data, "packed")
    other = tmp_path / "other"
    other.mkdir()
    (other / "x.txt").write_bytes(b"x")
    ws.data.add(other, "unrelated")
    ws.close()
    (index,) = (ws.blob_root / "packs").glob("*.idx")
    damaged = bytearray(index.read_bytes())
    damaged[100] ^= 1
    index.write_bytes(bytes(damaged))

    again = Workspace(tmp_path / "ws")
    with again.tracker.start_run("r") as run:
        run.log_text("still works", "notes.txt")
        manager = CheckpointManager(run, monitor=None, async_save=False)
        manager.save({"w": np.ones(3)}, step=1)
    assert again.data.checkout("unrelated", tmp_path / "out1") == 1
    assert again.data.checkout("packed", tmp_path / "out2") == 100  # rebuilt from the pack
    assert (tmp_path / "out2" / "f042.txt").read_bytes() == b"file 42"
    assert again.blobs.verify().ok
    assert again.verify().ok
    again.gc(grace_seconds=0)
    assert again.data.verify("packed@v1") == 100
    again.close()
