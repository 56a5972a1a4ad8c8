"""The GP sampler's local search, in the Rust core: box-constrained BFGS on the acquisition
(the log expected improvement, plus the log probability that each constraint holds) from
each starting point.

A search is hundreds of evaluations of one point against every trial; in NumPy each cost
tens of microseconds of call overhead (about 15 ms per trial at 100 trials), in Rust a few
(``aidot-core``'s ``gp`` module, with the GIL released).
"""

from __future__ import annotations

import numpy as np

from aidot import _core
from aidot.tuning.samplers._arrays import float64_bytes
from aidot.tuning.samplers._gp import GaussianProcess


def local_maxima(
    objective: GaussianProcess | None,
    best: float | None,
    constraints: list[GaussianProcess],
    starts: np.ndarray,
    *,
    free: np.ndarray,
    scales: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Each row of ``starts`` moved to a local maximum of the acquisition along its ``free``
    coordinates (the others stay), within the unit cube, and the acquisition there.
    ``objective`` and ``best``: the objective's GP and the value to improve on (None before
    any trial is feasible); ``scales``: the length scales of the free coordinates, which
    shape the first steps."""
    improving = None if objective is None or best is None else (_model(objective), float(best))
    if improving is None and not constraints:
        # Nothing to improve and no constraint: the acquisition is flat.
        return np.array(starts, dtype=float), np.zeros(len(starts))
    inputs = objective if objective is not None else constraints[0]
    points, values = _core.gp_maximize(
        float64_bytes(inputs.x),
        [bool(c) for c in inputs.categorical],
        improving,
        [_model(m) for m in constraints],
        float64_bytes(starts),
        [bool(f) for f in free],
        [float(s) for s in scales],
    )
    return np.asarray(points, dtype=float).reshape(starts.shape), np.asarray(values)


def _model(model: GaussianProcess) -> tuple[bytes, bytes, bytes, float]:
    alpha, inverse, lam, scale = model.posterior_parts()
    return float64_bytes(alpha), float64_bytes(inverse), float64_bytes(lam), scale
