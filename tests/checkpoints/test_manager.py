"""CheckpointManager on a real workspace (SQLite + blob folder) and on a plain folder."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from aidot import CheckpointManager, Workspace
from aidot.errors import (
    IntegrityError,
    InvalidArgumentError,
    NotFoundError,
    SchemaVersionError,
)
from aidot.tracking import Run


@pytest.fixture
def run(workspace: Workspace) -> Iterator[Run]:
    with workspace.tracker.start_run("ckpt") as run:
        yield run


def model_state(seed: int = 0, *, frozen_seed: int = 99) -> dict[str, object]:
    rng = np.random.default_rng(seed)
    frozen = np.random.default_rng(frozen_seed)
    return {
        "model": {
            "embedding": frozen.normal(size=(1000, 64)).astype(np.float32),
            "dense.weight": rng.normal(size=(64, 32)).astype(np.float32),
            "dense.bias": rng.normal(size=32).astype(np.float64),
        },
        "optimizer": {"lr": 0.01, "betas": (0.9, 0.999), "step": seed, "name": "adam"},
        "rng": b"\x00\x01\x02",
        "history": [np.float32(0.5), None, True, math.inf],
        "empty": np.zeros((0, 3), np.int64),
    }


def assert_same(a: object, b: object) -> None:
    if isinstance(a, dict):
        assert isinstance(b, dict)
        assert list(a) == list(b)
        for key in a:
            assert_same(a[key], b[key])
    elif isinstance(a, (list, tuple)):
        assert type(a) is type(b)
        assert len(a) == len(b)  # type: ignore[arg-type]
        for x, y in zip(a, b, strict=True):  # type: ignore[call-overload]
            assert_same(x, y)
    elif isinstance(a, np.ndarray):
        assert isinstance(b, np.ndarray)
        assert a.dtype == b.dtype
        np.testing.assert_array_equal(a, b)
    else:
        assert type(a) is type(b)
        assert a == b


@pytest.mark.parametrize("async_save", [False, True])
def test_save_and_restore_round_trip(run: Run, async_save: bool) -> None:
    manager = CheckpointManager(run, monitor="val_loss", async_save=async_save)
    state = model_state()
    future = manager.save(state, step=10, epoch=1, metrics={"val_loss": 0.5})
    assert future is not None
    info = future.result()
    assert info.step == 10
    assert info.metrics == {"val_loss": 0.5}
    restored = manager.restore("latest")
    assert_same(state, restored)
    weights = restored["model"]["dense.weight"]
    assert isinstance(weights, np.memmap)  # mapped, not read
    assert not weights.flags.writeable
    assert isinstance(restored["history"][0], np.float32)
    manager.close()


def test_unchanged_arrays_are_stored_once(run: Run, workspace: Workspace) -> None:
    manager = CheckpointManager(run, monitor=None, keep_last=5, async_save=False)
    manager.save(model_state(0), step=0)
    used = workspace.blobs.usage().bytes
    manager.save(model_state(1), step=1)  # only the dense layer changed; the embedding did not
    grown = workspace.blobs.usage().bytes - used
    embedding = 1000 * 64 * 4
    dense = 64 * 32 * 4 + 32 * 8
    assert dense <= grown < embedding / 4
    assert [c.step for c in manager.list()] == [0, 1]  # fewer than keep_last: all kept
    assert_same(model_state(0), manager.restore(0))


def test_retention_keeps_top_k_and_last_and_frees_blobs(run: Run, workspace: Workspace) -> None:
    manager = CheckpointManager(
        run, monitor="val_acc", mode="max", save_top_k=2, keep_last=1, prune_grace_seconds=0
    )
    accuracies = [0.5, 0.9, 0.7, 0.95, 0.6, 0.65]
    for step, acc in enumerate(accuracies):
        manager.save(model_state(step), step=step, metrics={"val_acc": acc})
    manager.wait()
    assert [c.step for c in manager.list()] == [1, 3, 5]  # the best two, and the last
    assert manager.get("best").step == 3
    # Pruned checkpoints' own arrays are gone; shared ones (the embedding) stay.
    live = workspace.store.live_digests()
    assert set(workspace.blobs) == live
    assert_same(model_state(1), manager.restore(1))
    with pytest.raises(NotFoundError, match="no checkpoint at step 2; kept steps: 1, 3, 5"):
        manager.restore(2)


def test_a_new_process_resumes_retention(workspace: Workspace, tmp_path: Path) -> None:
    with workspace.tracker.start_run("resume") as run:
        first = CheckpointManager(run, save_top_k=2, keep_last=0, async_save=False)
        for step, loss in enumerate([0.9, 0.3, 0.5]):
            first.save({"w": np.full(10, step)}, step=step, metrics={"val_loss": loss})
        run_id = run.id
    assert [c.step for c in first.list()] == [1, 2]
    workspace.close()
    script = textwrap.dedent(
        """
        import sys
        import numpy as np
        from aidot import CheckpointManager, Workspace
        ws = Workspace(sys.argv[1])
        with ws.tracker.start_run(run_id=sys.argv[2]) as run:
            manager = CheckpointManager(run, save_top_k=2, keep_last=0)
            manager.save({"w": np.full(10, 3)}, step=3, metrics={"val_loss": 0.4})
            manager.wait()
            print(",".join(str(c.step) for c in manager.list()))
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", script, str(workspace.home), run_id],
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.strip() == "1,3"  # 0.5 at step 2 dropped for 0.4: retention carried on


def test_a_folder_is_a_self_contained_checkpoint_store(tmp_path: Path) -> None:
    folder = tmp_path / "ckpts"
    with CheckpointManager(folder, monitor=None, keep_last=2, prune_grace_seconds=0) as manager:
        for step in range(4):
            manager.save(model_state(step), step=step)
    assert (folder / "index.json").exists()
    again = CheckpointManager(folder, monitor=None, keep_last=2)
    assert [c.step for c in again.list()] == [2, 3]
    assert_same(model_state(3), again.restore())
    referenced = set()
    for entry in json.loads((folder / "index.json").read_text())["checkpoints"]:
        referenced |= set(entry["digests"])
    assert set(again._blobs) == referenced  # pruned checkpoints released their blobs


def test_every_n_steps_skips_the_others(tmp_path: Path) -> None:
    manager = CheckpointManager(tmp_path / "c", monitor=None, every_n_steps=5, async_save=False)
    saved = [s for s in range(12) if manager.save({"s": s}, step=s) is not None]
    assert saved == [0, 5, 10]
    assert manager.should_save(step=15)
    assert not manager.should_save(step=None)


def test_a_save_waits_for_the_one_in_flight(tmp_path: Path) -> None:
    manager = CheckpointManager(tmp_path / "c", monitor=None, keep_last=10)
    big = np.ones((2048, 2048), np.float32)  # 16 MiB
    futures = []
    for step in range(3):
        big[0, 0] = step  # changing the array right after save() returns must be safe
        futures.append(manager.save({"w": big}, step=step))
        big[0, 0] = -1
    manager.wait()
    assert all(f is not None and f.done() for f in futures)
    for step in range(3):
        assert manager.restore(step)["w"][0, 0] == step


def test_bad_input_is_refused_with_a_clear_error(run: Run, tmp_path: Path) -> None:
    manager = CheckpointManager(run, async_save=False)
    with pytest.raises(InvalidArgumentError, match=r"ranked by 'val_loss' but save\(\) got"):
        manager.save({"w": np.ones(3)}, step=0, metrics={"loss": 1.0})
    with pytest.raises(InvalidArgumentError, match=r"state\['fn'\] is a builtins.function"):
        manager.save({"fn": lambda: 1}, metrics={"val_loss": 1.0})
    with pytest.raises(NotFoundError, match="no checkpoints yet"):
        manager.restore()
    with pytest.raises(InvalidArgumentError, match="mode"):
        CheckpointManager(run, mode="highest")
    with pytest.raises(InvalidArgumentError, match="keep nothing"):
        CheckpointManager(run, save_top_k=0, keep_last=0)

    pickled = CheckpointManager(tmp_path / "p", monitor=None, allow_pickle=True, async_save=False)
    pickled.save({"obj": {1, 2, 3}})
    assert pickled.restore()["obj"] == {1, 2, 3}
    cautious = CheckpointManager(tmp_path / "p", monitor=None)
    with pytest.raises(InvalidArgumentError, match="allow_pickle=True"):
        cautious.restore()


def test_damage_and_newer_manifests_are_refused(tmp_path: Path) -> None:
    manager = CheckpointManager(tmp_path / "c", monitor=None, async_save=False)
    future = manager.save({"w": np.arange(1000, dtype=np.float64)})
    assert future is not None
    info = future.result()
    manifest = json.loads(manager._blobs.get_bytes(info.manifest))
    digest = manifest["buffers"][0]["digest"]
    path = manager._blobs.whole_path(digest)
    assert path is not None
    path.chmod(0o644)
    data = bytearray(path.read_bytes())
    data[100] ^= 1
    path.write_bytes(bytes(data))
    with pytest.raises(IntegrityError, match=digest):
        manager.restore()

    newer = {**manifest, "version": 99}
    newer_digest = manager._blobs.put_bytes(json.dumps(newer).encode())
    index = json.loads((tmp_path / "c" / "index.json").read_text())
    index["checkpoints"][0]["manifest"] = newer_digest
    (tmp_path / "c" / "index.json").write_text(json.dumps(index))
    with pytest.raises(SchemaVersionError, match="newer aidot"):
        manager.restore()


def test_kill_9_during_a_save_leaves_earlier_checkpoints_intact(tmp_path: Path) -> None:
    folder = tmp_path / "c"
    script = textwrap.dedent(
        """
        import os, signal, sys, threading
        import numpy as np
        from aidot import CheckpointManager
        manager = CheckpointManager(sys.argv[1], monitor=None, keep_last=2)
        manager.save({"w": np.full(1000, 1.0)}, step=1)
        manager.wait()
        print("saved", flush=True)
        big = {f"layer{i}": np.random.default_rng(i).random(2_000_000) for i in range(24)}
        manager.save(big, step=2)  # ~380 MB written in the background...
        threading.Timer(0.3, lambda: os.kill(os.getpid(), signal.SIGKILL)).start()
        manager.wait()  # ...and killed mid-way
        print("finished before the kill", flush=True)
        """
    )
    proc = subprocess.run(
        [sys.executable, "-c", script, str(folder)], capture_output=True, text=True, check=False
    )
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    assert proc.stdout.splitlines()[0] == "saved"
    manager = CheckpointManager(folder, monitor=None, keep_last=2)
    steps = [c.step for c in manager.list()]
    assert steps in ([1], [1, 2])  # the kill came mid-save (or, on a fast disk, after it)
    np.testing.assert_array_equal(manager.restore(1)["w"], np.full(1000, 1.0))
    # No partial blob is visible: everything listed verifies.
    manager._blobs.verify_digests(list(manager._blobs))
    if steps == [1]:
        assert "finished" not in proc.stdout


def test_restore_of_a_large_state_maps_rather_than_reads(tmp_path: Path) -> None:
    manager = CheckpointManager(tmp_path / "c", monitor=None, async_save=False)
    state = {f"w{i}": np.full((1024, 1024), i, np.float32) for i in range(8)}  # 32 MiB
    manager.save(state)
    start = time.perf_counter()
    restored = manager.restore()
    assert time.perf_counter() - start >= 0  # behaviour below; timings live in benches/
    for i in range(8):
        assert isinstance(restored[f"w{i}"], np.memmap)
        assert restored[f"w{i}"][5, 5] == i
    assert os.path.exists(restored["w0"].filename)


@pytest.mark.parametrize("async_save", [False, True])
def test_torch_tensors_round_trip_with_their_dtypes(
    tmp_path: Path, torch: Any, async_save: bool
) -> None:
    module = torch.nn.Linear(4, 3)
    state = {
        "model": module.state_dict(),
        "half": torch.arange(6, dtype=torch.float16).reshape(2, 3),
        "bf16": torch.tensor([1.5, -2.25, 3.0], dtype=torch.bfloat16),
        "steps": torch.tensor([1, 2, 3], dtype=torch.int64),
        "mask": torch.tensor([True, False]),
        "lr": 0.1,
    }
    manager = CheckpointManager(tmp_path / "ckpt", monitor=None, async_save=async_save)
    future = manager.save(state, step=1)
    assert future is not None
    future.result()
    # The training loop may update the tensors in place right after save() returns.
    with torch.no_grad():
        module.weight.add_(1.0)
    restored = manager.restore("latest")
    manager.close()
    for key in ("half", "bf16", "steps", "mask"):
        assert isinstance(restored[key], torch.Tensor)
        assert restored[key].dtype == state[key].dtype
        assert torch.equal(restored[key], state[key])
    weights = restored["model"]["weight"]
    assert torch.equal(weights + 1.0, module.weight.detach())
    fresh = torch.nn.Linear(4, 3)
    fresh.load_state_dict(restored["model"])
    assert restored["lr"] == 0.1


def test_pruning_spares_blobs_within_the_grace_period_and_retries_them(
    run: Run, workspace: Workspace
) -> None:
    manager = CheckpointManager(run, monitor=None, keep_last=1, async_save=False)
    manager.save({"w": np.full(100, 1.0)}, step=1)
    first = manager.get().manifest
    manager.save({"w": np.full(100, 2.0)}, step=2)
    assert first in workspace.blobs  # released, but written just now: spared
    assert first not in workspace.store.live_digests()
    manager.prune_grace_seconds = 0
    manager.save({"w": np.full(100, 3.0)}, step=3)
    assert first not in workspace.blobs  # retried at the next prune
    assert set(workspace.blobs) == workspace.store.live_digests()


def test_a_version_registered_from_a_checkpoint_outlives_its_pruning(
    run: Run, workspace: Workspace
) -> None:
    manager = CheckpointManager(
        run, save_top_k=1, keep_last=0, async_save=False, prune_grace_seconds=0
    )
    manager.save(model_state(0), step=0, metrics={"val_loss": 0.9})
    workspace.registry.create_model_version("net", checkpoint=manager.get("best"), run=run)
    for step, loss in enumerate([0.5, 0.2], start=1):
        manager.save(model_state(step), step=step, metrics={"val_loss": loss})
    assert [c.step for c in manager.list()] == [2]  # step 0's checkpoint was pruned
    with pytest.raises(NotFoundError):
        manager.restore(0)
    restored = workspace.registry.restore_checkpoint("models:/net/1")
    assert_same(model_state(0), restored)
    assert workspace.verify().ok
    with pytest.raises(InvalidArgumentError, match="restore_checkpoint"):
        workspace.registry.load_model("models:/net/1")


@pytest.mark.parametrize("grace", [0.0, 60.0])
def test_a_run_pruning_never_takes_arrays_another_run_is_saving(
    workspace: Workspace, grace: float
) -> None:
    # Run B fine-tunes from run A's state: it reuses A's arrays. A prunes the checkpoint that
    # holds them while B is between putting its blobs and recording its checkpoint.
    shared = model_state(0)
    with workspace.tracker.start_run("a") as run_a, workspace.tracker.start_run("b") as run_b:
        a = CheckpointManager(
            run_a, save_top_k=1, keep_last=0, async_save=False, prune_grace_seconds=grace
        )
        a.save(shared, step=0, metrics={"val_loss": 0.9})
        b = CheckpointManager(run_b, save_top_k=1, keep_last=0, async_save=False)
        record = b._index.add

        def record_after_a_prunes(info: Any, digests: Any) -> None:
            a.save(model_state(1, frozen_seed=7), step=1, metrics={"val_loss": 0.1})
            assert [c.step for c in a.list()] == [1]
            record(info, digests)

        b._index.add = record_after_a_prunes  # type: ignore[method-assign]
        b.save(shared, step=0, metrics={"val_loss": 0.8})
        assert_same(shared, b.restore())
        assert workspace.verify().ok
