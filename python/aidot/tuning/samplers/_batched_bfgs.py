"""Box-constrained BFGS on many independent starting points at once.

Maximizing an acquisition function from ten starting points with scipy's L-BFGS-B costs
about 130 us of Python overhead per evaluation and point; here every iteration evaluates all
the points still moving in one vectorized call (measured: 10 starts in 6 dimensions converge
in about 30 iterations, a few milliseconds in all). Each point keeps its own inverse-Hessian
estimate; coordinates pressed against a bound are held there (projected BFGS), and steps
satisfy the Armijo condition by backtracking.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

_MAX_HALVINGS = 8
"""A point whose step still fails after this many halvings (1/256 of it) stops: every halving
is an evaluation of all the points still searching, and such a point is at its maximum
within what the gradient can tell."""

Objective = Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]
"""Values [m] and gradients [m, d] at m points [m, d], which belong to the starts numbered
by the second argument [m]; the function is maximized."""


def maximize(
    fun: Objective,
    starts: np.ndarray,
    *,
    max_iter: int = 100,
    gtol: float = 1e-4,
    ftol: float = 1e-9,
    max_step: float = 0.25,
    scales: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Local maxima of ``fun`` in ``[0, 1]^d`` from each row of ``starts``: the points and
    their values."""
    x = np.clip(starts.astype(float), 0.0, 1.0)
    count, dims = x.shape
    value, grad = fun(x, np.arange(count))
    f, g = -value, -grad  # minimize the negation
    # ``scales``: the expected width of the maxima per coordinate (a GP's length scales),
    # as the starting inverse Hessian's diagonal, so that the first steps have the right
    # shape even when coordinates differ a hundredfold in how fast the function changes.
    shape = np.ones(dims) if scales is None else np.asarray(scales, dtype=float)
    base = np.diag((shape / shape.max()) ** 2)  # relative: max_step still bounds the first step
    hessians = np.tile(base, (count, 1, 1))
    scaled = np.zeros(count, dtype=bool)
    was_held = np.zeros((count, dims), dtype=bool)
    last_step = np.full(count, np.inf)
    moving = np.isfinite(f)
    for _ in range(max_iter):
        idx = np.flatnonzero(moving)
        if idx.size == 0:
            break
        xi, fi, gi = x[idx], f[idx], g[idx]
        held = ((xi <= 0.0) & (gi > 0.0)) | ((xi >= 1.0) & (gi < 0.0))
        free_grad = np.where(held, 0.0, gi)
        # A coordinate that reached or left a bound changes the problem's shape: the
        # curvature learnt for the old face misleads, so start the estimate afresh.
        changed = (held != was_held[idx]).any(axis=1)
        if changed.any():
            hessians[idx[changed]] = base
            scaled[idx[changed]] = False
        was_held[idx] = held
        done = np.abs(free_grad).max(axis=1) < gtol
        direction = -np.einsum("mij,mj->mi", hessians[idx], free_grad)
        direction[held] = 0.0
        uphill = (direction * free_grad).sum(axis=1) >= 0.0
        if uphill.any():  # the curvature estimate went wrong: restart from steepest descent
            direction[uphill] = -free_grad[uphill]
            hessians[idx[uphill]] = base
            scaled[idx[uphill]] = False
        longest = np.abs(direction).max(axis=1)
        step = np.minimum(1.0, max_step / np.maximum(longest, 1e-300))
        # Without a curvature estimate, start from twice the step that worked last time:
        # a peaked acquisition otherwise costs several halvings per iteration.
        raw = ~scaled[idx]
        step[raw] = np.minimum(step[raw], 2.0 * last_step[idx[raw]])
        new_x, new_f, new_g, accepted = _backtrack(fun, idx, xi, fi, free_grad, direction, step)
        last_step[idx[accepted]] = step[accepted]
        s = new_x - xi
        y = new_g - gi
        sy = (s * y).sum(axis=1)
        _update_hessians(hessians, scaled, idx, s, y, accepted & (sy > 1e-12), base)
        improved = accepted & (fi - new_f > ftol * np.maximum(1.0, np.abs(fi)))
        x[idx[accepted]] = new_x[accepted]
        f[idx[accepted]] = new_f[accepted]
        g[idx[accepted]] = new_g[accepted]
        moving[idx[done | ~improved]] = False
    return x, -f


def _update_hessians(  # noqa: PLR0917 - private, one caller
    hessians: np.ndarray,
    scaled: np.ndarray,
    idx: np.ndarray,
    s: np.ndarray,
    y: np.ndarray,
    update: np.ndarray,
    base: np.ndarray,
) -> None:
    """The BFGS update of the inverse Hessians of the points ``idx[update]``, in place."""
    if not update.any():
        return
    dims = s.shape[1]
    sy = (s * y).sum(axis=1)
    k, j = np.flatnonzero(update), idx[update]
    s_k, y_k, rho = s[k], y[k], 1.0 / sy[k]
    first = ~scaled[j]
    if first.any():  # the first step sets the scale of the inverse Hessian
        yf = y_k[first]
        curvature = np.einsum("mi,ij,mj->m", yf, base, yf)
        gain = sy[k][first] / np.maximum(curvature, 1e-300)
        hessians[j[first]] = base[None] * gain[:, None, None]
        scaled[j[first]] = True
    left = np.eye(dims)[None] - rho[:, None, None] * s_k[:, :, None] * y_k[:, None, :]
    outer = s_k[:, :, None] * s_k[:, None, :]
    hessians[j] = left @ hessians[j] @ left.transpose(0, 2, 1) + rho[:, None, None] * outer


def _backtrack(  # noqa: PLR0917 - private, one caller
    fun: Objective,
    rows: np.ndarray,
    x: np.ndarray,
    f: np.ndarray,
    grad: np.ndarray,
    direction: np.ndarray,
    step: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Armijo backtracking for every point at once; halves the step of the points whose
    step did not decrease ``f`` enough, up to :data:`_MAX_HALVINGS` times."""
    new_x = x.copy()
    new_f = f.copy()
    new_g = np.zeros_like(x)
    accepted = np.zeros(len(x), dtype=bool)
    pending = np.arange(len(x))
    for _ in range(_MAX_HALVINGS):
        if pending.size == 0:
            break
        trial = np.clip(x[pending] + step[pending, None] * direction[pending], 0.0, 1.0)
        value, gradient = fun(trial, rows[pending])
        trial_f = -value
        decrease = (grad[pending] * (trial - x[pending])).sum(axis=1)
        ok = np.isfinite(trial_f) & (trial_f <= f[pending] + 1e-4 * decrease)
        hit = pending[ok]
        new_x[hit], new_f[hit], new_g[hit] = trial[ok], trial_f[ok], -gradient[ok]
        accepted[hit] = True
        pending = pending[~ok]
        step[pending] *= 0.5
    return new_x, new_f, new_g, accepted
