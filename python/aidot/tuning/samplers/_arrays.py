"""Arrays on their way into the Rust core."""

from __future__ import annotations

import numpy as np


def float64_bytes(values: np.ndarray) -> bytes:
    """The values as native float64 bytes, row-major: how the core's samplers take arrays."""
    return np.ascontiguousarray(values, dtype=np.float64).tobytes()
