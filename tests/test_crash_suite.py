"""The crash suite: each writing operation killed with SIGKILL at random moments, then the
workspace must verify (every reference resolving to intact content), keep what was stored
before, and take the same operation again.

Scenarios: a blob put, a data add, checkpoint saves (with top-k pruning), logging, a model
registration, workspace gc. Each is killed at ``CRASH_MOMENTS`` moments (10 by default) drawn
uniformly over the operation's own duration; the seed is printed with a failure.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from aidot import Workspace

MOMENTS = int(os.environ.get("CRASH_MOMENTS", "10"))

PREPARE = """
import os, sys
from pathlib import Path
import numpy as np
from aidot import Workspace
home, data = Path(sys.argv[1]), Path(sys.argv[2])
ws = Workspace(home)
"""

# Each prints "ready" once set up, then does its work (in a loop where one call is short).
SCENARIOS = {
    "put": """
big = data / "big.bin"
print("ready", flush=True)
ws.blobs.put_file(big)
""",
    "add": """
print("ready", flush=True)
ws.data.add(data / "tree", "crashing")
""",
    "checkpoint save and prune": """
from aidot import CheckpointManager
rng = np.random.default_rng(int.from_bytes(os.urandom(4), "little"))
with ws.tracker.start_run("crash") as run:
    manager = CheckpointManager(run, save_top_k=1, keep_last=1, prune_grace_seconds=0)
    print("ready", flush=True)
    for step in range(1000):
        state = {"w": rng.standard_normal((256, 1024), dtype=np.float32), "frozen": data_array}
        manager.save(state, step=step, metrics={"val_loss": float(rng.random())})
""",
    "logging": """
with ws.tracker.start_run("crash") as run:
    print("ready", flush=True)
    for step in range(10**7):
        run.log_metric("loss", 1.0 / (step + 1), step=step)
        if step % 1000 == 0:
            run.log_param(f"p{step}", step)
            run.log_text(f"step {step}", f"notes/{step}.txt")
""",
    "register": """
print("ready", flush=True)
ws.registry.create_model_version("crashing", path=data / "model")
""",
    "gc": """
for i in range(30):
    v = ws.registry.create_model_version("garbage", path=data / "model")
    ws.registry.delete_version("garbage", v.version)
print("ready", flush=True)
ws.gc(grace_seconds=0)
""",
}


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import numpy as np

    root = tmp_path_factory.mktemp("crash-data")
    rng = np.random.default_rng(7)
    (root / "big.bin").write_bytes(rng.bytes(48 << 20))
    tree = root / "tree"
    for d in range(10):
        (tree / f"d{d}").mkdir(parents=True)
        for f in range(200):
            (tree / f"d{d}" / f"{f}.txt").write_bytes(rng.bytes(100 + f))
    (tree / "large.bin").write_bytes(rng.bytes(24 << 20))
    model = root / "model"
    model.mkdir()
    (model / "weights.bin").write_bytes(rng.bytes(32 << 20))
    (model / "config.json").write_text('{"layers": 2}')
    return root


def child(script: str, home: Path, data: Path) -> subprocess.Popen[str]:
    setup = "data_array = np.ones(4096, dtype=np.float32)\n"
    code = textwrap.dedent(PREPARE) + setup + textwrap.dedent(script)
    return subprocess.Popen(
        [sys.executable, "-c", code, str(home), str(data)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_ready(proc: subprocess.Popen[str]) -> None:
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if line.strip() != "ready":
        _, err = proc.communicate(timeout=60)
        raise AssertionError(f"the scenario did not start: {line!r} {err}")


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_a_kill_9_at_any_moment_loses_nothing(tmp_path: Path, data: Path, scenario: str) -> None:
    seed = random.randrange(2**32)
    draw = random.Random(seed)
    home = tmp_path / "ws"
    with Workspace(home) as ws:  # content that must survive every crash
        before = ws.data.add(data / "tree" / "d0", "before")
    # How long the operation takes uninterrupted (bounded for the endless loops).
    proc = child(SCENARIOS[scenario], home, data)
    wait_ready(proc)
    started = time.monotonic()
    try:
        proc.wait(timeout=3)
    except subprocess.TimeoutExpired:
        proc.kill()
    proc.communicate(timeout=60)
    duration = max(time.monotonic() - started, 0.05)
    for moment in range(MOMENTS):
        delay = draw.uniform(0, duration)
        proc = child(SCENARIOS[scenario], home, data)
        wait_ready(proc)
        time.sleep(delay)
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
        proc.communicate(timeout=60)
        with Workspace(home) as ws:
            report = ws.verify()
            where = f"{scenario}, moment {moment} ({delay:.3f} s of {duration:.3f}), seed {seed}"
            assert report.ok, f"{where}: {[str(p) for p in report.problems]} {report.database}"
            assert ws.data.verify(before.ref) == before.file_count, where
    # The operation goes through afterwards (an endless one runs for 3 s, then is killed:
    # stopping it gently would flush millions of points first).
    proc = child(SCENARIOS[scenario], home, data)
    wait_ready(proc)
    try:
        proc.wait(timeout=3)
    except subprocess.TimeoutExpired:
        proc.kill()
    _, err = proc.communicate(timeout=60)
    assert proc.returncode in (0, -signal.SIGKILL), err
    with Workspace(home) as ws:
        assert ws.verify().ok, err
