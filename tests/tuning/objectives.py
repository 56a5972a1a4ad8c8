"""Objectives the worker processes of the distributed tests import (``aidot tune worker``)."""

from __future__ import annotations

import os
import time
from pathlib import Path

from aidot.tuning import Trial


def quadratic(trial: Trial) -> float:
    x = trial.suggest_float("x", -10, 10)
    y = trial.suggest_int("y", -5, 5)
    return (x - 2) ** 2 + (y + 1) ** 2


def grid(trial: Trial) -> float:
    lr = trial.suggest_categorical("lr", [0.1, 0.01, 0.001])
    depth = trial.suggest_int("depth", 1, 8)
    time.sleep(0.01)  # let the workers interleave
    return float(lr) * depth


def hang(trial: Trial) -> float:
    """Marks that it started, then never returns (the test kills its process)."""
    trial.suggest_float("x", 0, 1)
    Path(os.environ["AIDOT_TEST_STARTED"]).write_text(str(trial.number))
    time.sleep(3600)
    return 0.0
