"""Every script in examples/ runs as a user would run it (a fresh process, its own
workspace in $AIDOT_HOME) and prints what it promises."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).parents[2] / "examples"

EXPECTED = {
    "tracking_training_loop.py": r"best run lr=\S+: val_loss [\d.]+ .*loss curve has 200 points",
    "tuning_with_pruning.py": r"best accuracy 0\.9\d+ with .*30 trials, \d+ pruned",
    "checkpoint_and_resume.py": r"resumed from epoch 4;.*kept checkpoints \(epoch, val_loss\): "
    r"\[\(\d, [\d.]+\), \(9, [\d.]+\)\]",
    "dataset_versioning.py": r"added \['part-100.csv'\], modified \['part-000.csv'\], "
    r"deleted \['part-099.csv'\].*part-099.csv is back: True",
    "register_and_promote.py": r"models:/churn/1 is in Production as @champion.*"
    r"v1 stage: Staging -> Production",
    "serving_hot_swap.py": r"serving v1; answer 3.0.*now serving v2; answer 6.0.*, 0 failed",
}


def test_every_example_is_tested() -> None:
    assert sorted(p.name for p in EXAMPLES.glob("*.py")) == sorted(EXPECTED)


@pytest.mark.parametrize("script", sorted(EXPECTED))
def test_example_runs(script: str, tmp_path: Path) -> None:
    env = {**os.environ, "AIDOT_HOME": str(tmp_path / "ws")}
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / script)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert re.search(EXPECTED[script], result.stdout, re.DOTALL), result.stdout
