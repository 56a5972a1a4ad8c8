"""Small models with signatures for the serving tests."""

from __future__ import annotations

import threading
import time
from typing import Any

import numpy as np

FLOAT_SIGNATURE = {
    "inputs": [{"name": "input", "dtype": "<f4", "shape": [-1, 4]}],
    "outputs": [{"name": "output", "dtype": "<f4", "shape": [-1, 2]}],
}


class Linear:
    """``y = x @ w + offset``, recording the batch sizes it was called with."""

    signature = FLOAT_SIGNATURE

    def __init__(self, offset: float = 0.0, delay: float = 0.0) -> None:
        self.weights = np.arange(8, dtype=np.float32).reshape(4, 2)
        self.offset = np.float32(offset)
        self.delay = delay
        self.batch_sizes: list[int] = []
        self.version = 1

    def predict(self, batch: Any) -> Any:
        self.batch_sizes.append(len(batch))
        if self.delay:
            time.sleep(self.delay)
        return batch @ self.weights + self.offset


class Gate(Linear):
    """A Linear model whose calls wait until the gate opens."""

    def __init__(self) -> None:
        super().__init__()
        self.opened = threading.Event()
        self.entered = threading.Event()

    def predict(self, batch: Any) -> Any:
        self.entered.set()
        self.opened.wait(30)
        return super().predict(batch)


class Raising(Linear):
    def predict(self, batch: Any) -> Any:
        raise ValueError("the model cannot handle this batch")


class WrongShape(Linear):
    def predict(self, batch: Any) -> Any:
        return np.zeros((len(batch) + 1, 2), dtype=np.float32)


class ThreadRecording(Linear):
    """A Linear model noting the OS name of each thread that runs it, and how many times it found
    its ``threading.local`` state empty (once per Python thread state it ran in)."""

    def __init__(self) -> None:
        super().__init__()
        self.local = threading.local()
        self.fresh_states = 0
        self.thread_names: set[str] = set()

    def predict(self, batch: Any) -> Any:
        if not getattr(self.local, "seen", False):
            self.local.seen = True
            self.fresh_states += 1
        native = threading.get_native_id()
        with open(f"/proc/self/task/{native}/comm") as comm:
            self.thread_names.add(comm.read().strip())
        return super().predict(batch)
