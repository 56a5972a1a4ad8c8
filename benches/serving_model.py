"""The model every server in the serving benchmark runs (issue #6): a NumPy MLP with fixed
weights, 32 float inputs -> 256 hidden (ReLU) -> 8 outputs, and an identity model that returns
its input. Plain NumPy, so the peers' environment can import it too."""

from __future__ import annotations

from typing import Any

import numpy as np

SIGNATURE = {
    "inputs": [{"name": "input", "dtype": "<f4", "shape": [-1, 32]}],
    "outputs": [{"name": "output", "dtype": "<f4", "shape": [-1, 8]}],
}
ECHO_SIGNATURE = {
    "inputs": [{"name": "input", "dtype": "<f4", "shape": [-1, 32]}],
    "outputs": [{"name": "output", "dtype": "<f4", "shape": [-1, 32]}],
}
BODY = '{"features": [[' + ",".join(f"{0.03 * i:.2f}" for i in range(32)) + "]]}"


class Mlp:
    signature = SIGNATURE

    def __init__(self) -> None:
        rng = np.random.default_rng(0)
        self.w1 = rng.standard_normal((32, 256), dtype=np.float32) / 8
        self.b1 = rng.standard_normal(256, dtype=np.float32) / 8
        self.w2 = rng.standard_normal((256, 8), dtype=np.float32) / 16
        self.b2 = rng.standard_normal(8, dtype=np.float32) / 16

    def predict(self, batch: Any) -> Any:
        hidden = np.maximum(np.asarray(batch, dtype=np.float32) @ self.w1 + self.b1, 0)
        return hidden @ self.w2 + self.b2


class Echo:
    signature = ECHO_SIGNATURE

    def predict(self, batch: Any) -> Any:
        return batch


MODELS = {"mlp": Mlp, "echo": Echo}
