"""Model-based test of the blob store: random sequences of puts (bytes, batches of files big
enough to be packed, whole buffers), releases, targeted deletes, gc (which rewrites packs),
reopening and verify, and one fault (a pack index damaged or deleted), against a plain model
of which content must still be there.

After every step every blob the model holds live reads back byte for byte and re-hashes to its
digest, and the store's own verify finds nothing damaged.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import numpy as np
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from aidot import BlobStore
from aidot.blobs import hash_bytes

# Small chunks, so that kilobytes exercise chunked blobs; 64 files or more make a pack.
CHUNKING = {
    "chunk_threshold": 64 << 10,
    "min_chunk": 4 << 10,
    "avg_chunk": 16 << 10,
    "max_chunk": 64 << 10,
}
sizes = st.sampled_from([0, 1, 100, 5_000, 70_000, 200_000])


def content(seed: int, size: int) -> bytes:
    return np.random.default_rng(seed).integers(0, 256, size, dtype=np.uint8).tobytes()


class BlobMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.tmp = Path(tempfile.mkdtemp(prefix="aidot-blob-model-"))
        self.store = BlobStore(self.tmp / "blobs", **CHUNKING)
        self.live: dict[str, bytes] = {}  # what must be there: referenced content
        self.released: set[str] = set()  # no longer referenced: may go
        self.files = 0

    def teardown(self) -> None:
        shutil.rmtree(self.tmp, ignore_errors=True)

    def _keep(self, digest: str, data: bytes) -> None:
        assert digest == hash_bytes(data)
        self.live[digest] = data
        self.released.discard(digest)

    @rule(seed=st.integers(0, 20), size=sizes)
    def put_bytes(self, seed: int, size: int) -> None:
        data = content(seed, size)
        self._keep(self.store.put_bytes(data), data)

    @rule(seed=st.integers(0, 20), count=st.sampled_from([3, 70]), size=st.integers(1, 3_000))
    def put_files(self, seed: int, count: int, size: int) -> None:
        folder = self.tmp / f"batch{self.files}"
        folder.mkdir()
        datas = [content(seed + i, size + i) for i in range(count)]
        paths = []
        for i, data in enumerate(datas):
            paths.append(folder / f"f{i}")
            paths[-1].write_bytes(data)
        self.files += 1
        for digest, data in zip(self.store.put_files(paths), datas, strict=True):
            self._keep(digest, data)

    @rule(seed=st.integers(0, 20), size=sizes)
    def put_buffers(self, seed: int, size: int) -> None:
        array = np.frombuffer(content(seed, size), np.uint8)
        (report,) = self.store.put_buffers([array])
        self._keep(report.digest, array.tobytes())

    @precondition(lambda self: bool(self.live))
    @rule(pick=st.data())
    def release(self, pick: st.DataObject) -> None:
        digest = pick.draw(st.sampled_from(sorted(self.live)))
        del self.live[digest]
        self.released.add(digest)

    @precondition(lambda self: bool(self.released))
    @rule()
    def delete_released(self) -> None:
        self.store.delete_stale(sorted(self.released), grace_seconds=0)

    @rule()
    def gc(self) -> None:
        self.store.gc(self.live, grace_seconds=0)

    @rule()
    def reopen(self) -> None:
        self.store = BlobStore(self.tmp / "blobs", **CHUNKING)

    @precondition(lambda self: any((self.tmp / "blobs" / "packs").glob("*.idx")))
    @rule(pick=st.data(), lose=st.booleans())
    def damage_a_pack_index(self, pick: st.DataObject, lose: bool) -> None:
        """A fault, not an operation: one byte of one index flipped (or the index deleted, as
        a user might on reading an error); the pack's copy of it must make up for it."""
        indexes = sorted((self.tmp / "blobs" / "packs").glob("*.idx"))
        index = pick.draw(st.sampled_from(indexes))
        if lose:
            index.unlink()
            self.store = BlobStore(self.tmp / "blobs", **CHUNKING)
            self.store.gc(self.live, grace_seconds=0)  # gives the pack its index back
            return
        data = bytearray(index.read_bytes())
        data[pick.draw(st.integers(0, len(data) - 1))] ^= 0x10
        index.write_bytes(bytes(data))
        self.store = BlobStore(self.tmp / "blobs", **CHUNKING)

    @invariant()
    def live_content_reads_back(self) -> None:
        for digest, data in self.live.items():
            assert self.store.get_bytes(digest) == data
        assert self.store.verify_each(self.live).ok

    @invariant()
    def nothing_is_damaged(self) -> None:
        assert self.store.verify().ok


TestBlobStore = BlobMachine.TestCase
