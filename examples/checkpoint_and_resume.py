"""Checkpoints that survive a crash: save the best 2 and the last one of a training run, stop
it as if the process died, then resume in a new manager from the latest checkpoint.

    python examples/checkpoint_and_resume.py
"""

import numpy as np

import aidot
from aidot import CheckpointManager
from aidot.tracking import Run

ws = aidot.default_workspace()
frozen = np.random.default_rng(0).normal(size=(512, 512)).astype(np.float32)  # never changes


def train(run: Run, start: int, stop: int, state: dict) -> None:
    manager = CheckpointManager(run, monitor="val_loss", mode="min", save_top_k=2, keep_last=1)
    for epoch in range(start, stop):
        state["head"] = state["head"] * 0.9
        val_loss = float(np.abs(state["head"]).mean()) + 0.01 * (epoch % 3)
        manager.save(state, epoch=epoch, metrics={"val_loss": val_loss})
    manager.close()  # waits for the last background save


with ws.tracker.start_run("checkpoints", name="resumable") as run:
    state = {"embeddings": frozen, "head": np.ones(64, dtype=np.float32), "step": 0}
    train(run, 0, 5, state)  # ...then the process "dies" after epoch 4
    run_id = run.id

with ws.tracker.start_run(run_id=run_id) as run:  # a new process resumes the same run
    manager = CheckpointManager(run, monitor="val_loss", mode="min", save_top_k=2, keep_last=1)
    latest = manager.get("latest")
    state = {
        k: np.array(v) if hasattr(v, "shape") else v for k, v in manager.restore("latest").items()
    }
    print(f"resumed from epoch {latest.epoch}; head mean {float(state['head'].mean()):.4f}")
    train(run, latest.epoch + 1, 10, state)
    kept = manager.list()
    print(
        "kept checkpoints (epoch, val_loss):",
        [(c.epoch, round(c.metrics["val_loss"], 4)) for c in kept],
    )
    print(f"best is epoch {manager.get('best').epoch}")
    usage = ws.blobs.usage()
    print(
        f"{len(kept)} checkpoints of a 1 MiB state take {usage.bytes / 2**20:.1f} MiB: "
        "the unchanged embeddings are stored once"
    )
