"""This checkout against an earlier one, on the workloads a change must not slow down: data add
of 50,000 small files and of 2 GiB, checkpoint save and restore of 1 GiB, and log_metric end
to end. ``AIDOT_BENCH_BASELINE`` names the earlier checkout's ``python/`` folder, with its
extension built in it (``git worktree add ../base COMMIT``, then ``cargo build --release -p
aidot-python`` there and copy ``lib_core.so`` to ``python/aidot/_core.abi3.so``).

Each round runs each workload once per side, in fresh processes, alternating which side goes
first, after an ``os.sync()`` (a 2 GiB add just before leaves gigabytes of dirty pages that
slowed the next workload by a quarter); the median of the rounds is compared (ratio = this /
baseline; above 1.05 breaks the "at most 5% slower" rule; printed, not asserted: the machine
is noisy).
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

import pytest

from benches.conftest import Comparison, record

BASELINE = os.environ.get("AIDOT_BENCH_BASELINE")
ROUNDS = int(os.environ.get("AIDOT_BENCH_ROUNDS", "5"))
HERE = str(Path(__file__).resolve().parents[1] / "python")

# Each workload prepares its data (not timed), then times the operation; prints seconds.
WORKLOADS = {
    "data add 50,000 files": """
import os, sys, time
from pathlib import Path
from aidot import Workspace
root = Path(sys.argv[1])
src = root / "src"
if not src.exists():
    for d in range(100):
        (src / f"d{d}").mkdir(parents=True)
        for f in range(500):
            (src / f"d{d}" / f"{f}.txt").write_bytes(os.urandom(64 + f))
ws = Workspace(root / sys.argv[2])
os.sync()  # what earlier rounds wrote is on disk, not competing with this one
t = time.perf_counter()
ws.data.add(src, "small")
print(time.perf_counter() - t)
""",
    "data add 2 GiB": """
import os, sys, time
from pathlib import Path
from aidot import Workspace
root = Path(sys.argv[1])
src = root / "big"
if not src.exists():
    src.mkdir()
    for i in range(4):
        with open(src / f"part{i}.bin", "wb") as f:
            for _ in range(128):
                f.write(os.urandom(4 << 20))
ws = Workspace(root / sys.argv[2])
os.sync()  # what earlier rounds wrote is on disk, not competing with this one
t = time.perf_counter()
ws.data.add(src, "big")
print(time.perf_counter() - t)
""",
    "checkpoint save + restore 1 GiB": """
import os, sys, time
from pathlib import Path
import numpy as np
from aidot import CheckpointManager, Workspace
rng = np.random.default_rng(0)
state = {f"layer{i}": rng.standard_normal((64, 1 << 16), dtype=np.float32) for i in range(64)}
ws = Workspace(Path(sys.argv[1]) / sys.argv[2])
with ws.tracker.start_run("bench") as run:
    manager = CheckpointManager(run, monitor=None, async_save=False)
    os.sync()  # what earlier rounds wrote is on disk, not competing with this one
    t = time.perf_counter()
    manager.save(state, step=1)
    manager.restore()
    print(time.perf_counter() - t)
""",
    "log_metric 1,000,000 points + flush": """
import os, sys, time
from pathlib import Path
from aidot import Workspace
ws = Workspace(Path(sys.argv[1]) / sys.argv[2])
with ws.tracker.start_run("bench") as run:
    os.sync()  # what earlier rounds wrote is on disk, not competing with this one
    t = time.perf_counter()
    for step in range(1_000_000):
        run.log_metric("loss", 1.0 / (step + 1), step=step)
    run.flush()
    print(time.perf_counter() - t)
""",
}


def run_once(python_dir: str, script: str, root: Path, name: str) -> float:
    env = {**os.environ, "PYTHONPATH": python_dir}
    out = subprocess.run(
        [sys.executable, "-c", script, str(root), name],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return float(out.stdout.strip().splitlines()[-1])


@pytest.mark.skipif(BASELINE is None, reason="set AIDOT_BENCH_BASELINE to an earlier python/")
@pytest.mark.parametrize("workload", sorted(WORKLOADS))
def test_no_slower_than_the_baseline(bench_dir: Path, workload: str) -> None:
    assert BASELINE is not None
    script = WORKLOADS[workload]
    times: dict[str, list[float]] = {"this": [], "baseline": []}
    for i in range(ROUNDS):
        order = [("this", HERE), ("baseline", BASELINE)]
        for side, folder in order if i % 2 == 0 else order[::-1]:
            times[side].append(run_once(folder, script, bench_dir, f"ws-{side}-{i}"))
    this, base = statistics.median(times["this"]), statistics.median(times["baseline"])
    print(f"\n{workload}: {json.dumps(times)}")
    record(
        Comparison(
            workload,
            this,
            f"the baseline checkout ({BASELINE})",
            base,
            "at most 5% slower",
            note=f"this/baseline {this / base:.3f}",
        )
    )
