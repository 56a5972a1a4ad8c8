"""Checkpoints against safetensors (issue #4 targets): a durable save of 1 GiB of float32
arrays, an incremental save, restore, and the pause an asynchronous save costs training.

safetensors runs in the bench environment (`make bench-env`, $AIDOT_BENCH_PEERS_PYTHON) as a
subprocess on the same disk, with the same seeded arrays. `AIDOT_BENCH_CKPT_MIB` shrinks the
state for a quick run (default 1024).
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest

from aidot import CheckpointManager

from .conftest import Comparison, record, sync

ARRAYS = 16
MIB = int(os.environ.get("AIDOT_BENCH_CKPT_MIB", "1024"))
ELEMENTS = MIB * (1 << 20) // 4 // ARRAYS
PEERS = Path(__file__).parent / "peers"


def make_state(seed_offset: int = 0) -> dict[str, np.ndarray]:
    return {
        f"layer{i}": np.random.default_rng(i + seed_offset).random(ELEMENTS, dtype=np.float32)
        for i in range(ARRAYS)
    }


def safetensors_times(folder: Path, rounds: int) -> dict[str, float]:
    python = os.environ.get("AIDOT_BENCH_PEERS_PYTHON")
    if not python:
        pytest.skip("set AIDOT_BENCH_PEERS_PYTHON to a Python with safetensors: make bench-env")
    out = subprocess.run(
        [
            python,
            str(PEERS / "safetensors_checkpoint.py"),
            str(folder),
            str(ARRAYS),
            str(ELEMENTS),
            str(rounds),
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=900,
    )
    result: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def test_checkpoint_save_restore_vs_safetensors(bench_dir: Path) -> None:
    state = make_state()
    aidot_saves, peer_saves, peer_loads, restores, hashes = [], [], [], [], []
    for round_ in range(3):
        # Interleaved: the peer's round right before aidot's, on the same disk state.
        peer = safetensors_times(bench_dir, 1)
        peer_saves.append(peer["save_s"])
        peer_loads.append(peer["load_s"])
        folder = bench_dir / f"aidot{round_}"
        manager = CheckpointManager(folder, monitor=None, async_save=False)
        sync()
        start = time.perf_counter()
        manager.save(state, step=0)
        aidot_saves.append(time.perf_counter() - start)
        start = time.perf_counter()
        restored = manager.restore()
        restores.append(time.perf_counter() - start)
        assert restored["layer3"][11] == state["layer3"][11]
        del restored
        hashes.append(blake3_seconds(state))
        subprocess.run(["rm", "-rf", str(folder)], check=True)

    save_s, peer_save_s = statistics.median(aidot_saves), statistics.median(peer_saves)
    restore_s, peer_load_s = statistics.median(restores), statistics.median(peer_loads)
    record(
        Comparison(
            f"checkpoint save, {MIB} MiB float32, durable",
            save_s,
            "safetensors save_file + fsync",
            peer_save_s,
            ">= 1x",
        )
    )
    record(
        Comparison(
            f"checkpoint restore, {MIB} MiB (verified, mapped)",
            restore_s,
            "safetensors load_file",
            peer_load_s,
            "< 0.2 s",
            note=f"({restore_s * 1000:.0f} ms)",
        )
    )
    hash_s = statistics.median(hashes)
    record(
        Comparison(
            f"checkpoint restore, {MIB} MiB, against hashing it",
            restore_s,
            "blake3 (PyPI) of the arrays in memory, every core",
            hash_s,
            "(the floor for a verified restore)",
            note=f"({hash_s * 1000:.0f} ms)",
        )
    )


def blake3_seconds(state: dict[str, np.ndarray]) -> float:
    """Seconds for the reference BLAKE3 package to hash every array on every core: what a
    restore that verifies each array cannot beat on this machine."""
    from blake3 import blake3

    start = time.perf_counter()
    for array in state.values():
        blake3(array.view(np.uint8), max_threads=blake3.AUTO).digest()
    return time.perf_counter() - start


def test_incremental_save_and_async_pause(bench_dir: Path) -> None:
    folder = bench_dir / "incremental"
    manager = CheckpointManager(folder, monitor=None, keep_last=3, async_save=False)
    state = make_state()
    first = manager.save(state, step=0)
    assert first is not None
    first.result()
    used = manager._blobs.usage().bytes
    changed = dict(state)
    for i in range(ARRAYS // 10 or 1):  # 10% of the arrays change
        changed[f"layer{i}"] = state[f"layer{i}"] + 1
    manager.save(changed, step=1)
    written = manager._blobs.usage().bytes - used
    total = sum(a.nbytes for a in state.values())
    print(f"\nsecond checkpoint, 10% of arrays changed: {written / total:.1%} of the bytes written")
    record(
        Comparison(
            "second checkpoint, 90% of arrays unchanged: bytes written",
            written,
            "a full copy",
            total,
            "<= 15% of a full copy",
            unit="bytes",
            note=f"({written / total:.1%})",
        )
    )

    background = CheckpointManager(folder / "async", monitor=None, keep_last=2)
    pauses = []
    for step in range(3):
        start = time.perf_counter()
        background.save(state, step=step)
        pauses.append(time.perf_counter() - start)
        background.wait()
    pause = statistics.median(pauses)
    sync_save = statistics.median(_timed_sync_save(folder / f"sync{k}", state) for k in range(2))
    record(
        Comparison(
            f"async save pause, {MIB} MiB",
            pause,
            "synchronous save",
            sync_save,
            "(report the pause)",
            note=f"({pause * 1000:.0f} ms)",
        )
    )


def _timed_sync_save(folder: Path, state: dict[str, np.ndarray]) -> float:
    manager = CheckpointManager(folder, monitor=None, async_save=False)
    start = time.perf_counter()
    manager.save(state, step=0)
    return time.perf_counter() - start
