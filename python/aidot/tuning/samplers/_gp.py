"""Gaussian-process regression and the log expected improvement, in numpy and scipy.

The model follows what Optuna's GPSampler settled on: a Matern 5/2 kernel with one length
scale per parameter (automatic relevance determination), the Hamming distance for
categorical parameters, a kernel scale and a noise variance, all fitted by maximizing the
marginal likelihood plus weak priors on analytic gradients: scipy's L-BFGS-B for a first fit,
then BFGS carrying the previous fit's curvature over as each trial adds an observation. Inputs
live in the unit cube; outputs are standardized and maximized.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.linalg import lapack
from scipy.optimize import minimize
from scipy.special import erfcx, log_ndtr, ndtr

from aidot.tuning.samplers import _warm_bfgs as warm_bfgs

MINIMUM_NOISE = 1e-6
_SQRT5 = math.sqrt(5.0)
_LOG_SQRT_2PI = 0.5 * math.log(2 * math.pi)
_SQRT_HALF = math.sqrt(0.5)
_SQRT_HALF_PI = math.sqrt(0.5 * math.pi)


def _matern(r2: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Matern 5/2 as a function of the squared distance, and its derivative in it."""
    r = np.sqrt(5.0 * r2)
    e = np.exp(-r)
    value = e * (1.0 + r + (5.0 / 3.0) * r2)
    derivative = (-5.0 / 6.0) * (1.0 + r) * e
    return value, derivative


def _matern_value(r2: np.ndarray) -> np.ndarray:
    """:func:`_matern` without the derivative, computed in place instead of in fresh
    temporaries: the acquisition scores thousands of points at a time with it."""
    r: np.ndarray = np.multiply(r2, 5.0)
    np.sqrt(r, out=r)
    value: np.ndarray = np.multiply(r2, 5.0 / 3.0)
    value += r
    value += 1.0
    np.negative(r, out=r)
    np.exp(r, out=r)
    value *= r
    return value


def _cholesky(cov: np.ndarray) -> np.ndarray:
    """The lower Cholesky factor (LAPACK directly: scipy.linalg's checks cost as much as the
    factorization at this size, and the fit calls it dozens of times per trial)."""
    chol, info = lapack.dpotrf(cov, lower=1, clean=1)
    if info != 0:
        raise np.linalg.LinAlgError(f"the kernel matrix is not positive definite ({info})")
    return np.asarray(chol)


def _solve(chol: np.ndarray, y: np.ndarray) -> np.ndarray:
    """C^-1 y from C's lower Cholesky factor."""
    solution, _ = lapack.dpotrs(chol, y, lower=1)
    return np.asarray(solution)


def _inverse(chol: np.ndarray) -> np.ndarray:
    """C^-1 from C's lower Cholesky factor. LAPACK fills the lower triangle and leaves the
    upper one as it was, zero in a factor from :func:`_cholesky`: mirror it."""
    lower, _ = lapack.dpotri(chol, lower=1)
    full = lower + lower.T
    full.flat[:: len(full) + 1] *= 0.5
    return np.asarray(full)


def _squared_diffs(a: np.ndarray, b: np.ndarray, categorical: np.ndarray) -> np.ndarray:
    """Per-dimension squared differences [len(a), len(b), dims]; 0/1 for categories."""
    diff = a[:, None, :] - b[None, :, :]
    sq = diff * diff
    if categorical.any():
        sq[..., categorical] = (sq[..., categorical] > 0).astype(float)
    return np.asarray(sq)


@dataclass
class KernelParams:
    """The fitted hyperparameters."""

    inverse_squared_lengthscales: np.ndarray
    kernel_scale: float
    noise_var: float
    curvature: np.ndarray | None = None
    """The fit's inverse Hessian estimate in :meth:`raw` coordinates: the next fit, one
    observation later, starts from it (see :mod:`._warm_bfgs`)."""

    def raw(self) -> np.ndarray:
        return np.concatenate(
            [
                np.log(self.inverse_squared_lengthscales),
                [
                    math.log(self.kernel_scale),
                    math.log(max(self.noise_var - 0.99 * MINIMUM_NOISE, 1e-300)),
                ],
            ]
        )

    @staticmethod
    def default(dims: int) -> KernelParams:
        return KernelParams(np.ones(dims), 1.0, 1.0)


class GaussianProcess:
    """A GP fitted to ``x`` (unit cube, [n, dims]) and ``y`` (standardized, [n])."""

    def __init__(
        self,
        x: np.ndarray,
        y: np.ndarray,
        categorical: np.ndarray,
        initial: KernelParams | None = None,
        *,
        deterministic: bool = False,
    ) -> None:
        self.x = x
        self.y = y
        self.categorical = categorical
        self._sq = _squared_diffs(x, x, categorical)
        # The same as [n * n, dims], for matrix-vector products.
        self._sq_flat = self._sq.reshape(-1, x.shape[1])
        self._deterministic = deterministic
        # The last loss evaluation's raw parameters, C^-1 y and C^-1: the fit usually ends on
        # that point, and the posterior needs exactly those (one Cholesky and inverse saved).
        self._last: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
        self._fitted_raw: np.ndarray | None = None
        self.params = self._fit(initial or KernelParams.default(x.shape[1]))
        self._cache()

    # --- fitting --------------------------------------------------------------------------

    def _fit(self, initial: KernelParams) -> KernelParams:
        dims = self.x.shape[1]
        if initial.curvature is not None:
            try:
                warm = warm_bfgs.minimize(self._loss, initial.raw(), initial.curvature)
            except np.linalg.LinAlgError:
                warm = None
            if warm is not None and warm.converged and np.all(np.isfinite(warm.x)):
                self._fitted_raw = warm.x
                return self._params(warm.x, warm.inverse_hessian)
        for start in (initial, KernelParams.default(dims)):
            try:
                result = minimize(
                    self._loss, start.raw(), jac=True, method="L-BFGS-B", options={"gtol": 1e-2}
                )
            except np.linalg.LinAlgError:
                continue
            if np.all(np.isfinite(result.x)):
                self._fitted_raw = result.x
                return self._params(result.x, np.asarray(result.hess_inv.todense()))
        return KernelParams.default(dims)

    def _params(self, raw: np.ndarray, curvature: np.ndarray | None = None) -> KernelParams:
        dims = self.x.shape[1]
        raw = np.clip(raw, -50.0, 50.0)
        noise = MINIMUM_NOISE if self._deterministic else MINIMUM_NOISE + math.exp(raw[dims + 1])
        return KernelParams(np.exp(raw[:dims]), math.exp(raw[dims]), noise, curvature)

    def _loss(self, raw: np.ndarray) -> tuple[float, np.ndarray]:
        """Negative log marginal likelihood minus log prior, and its gradient in ``raw``."""
        dims = self.x.shape[1]
        p = self._params(raw)
        lam, scale, noise = p.inverse_squared_lengthscales, p.kernel_scale, p.noise_var
        kernel, dkernel, chol, alpha, inverse = self._factor(p)
        self._last = (raw.copy(), alpha, inverse)
        log_det = 2.0 * np.log(np.diag(chol)).sum()
        log_likelihood = -0.5 * self.y @ alpha - 0.5 * log_det
        w = np.outer(alpha, alpha) - inverse  # d loglik / dC = 0.5 * w
        grad = np.empty(dims + 2)
        g = w * dkernel
        grad[:dims] = 0.5 * (g.ravel() @ self._sq_flat) * lam
        grad[dims] = 0.5 * (w * kernel).sum()
        rho = noise - MINIMUM_NOISE
        grad[dims + 1] = 0.0 if self._deterministic else 0.5 * np.trace(w) * rho
        # Priors (Optuna's): on 1/lengthscale^2, gamma(2, 1) on the scale, gamma(1.1, 30) on noise.
        log_prior = -(0.1 / lam + 0.1 * lam).sum() + (math.log(scale) - scale)
        log_prior += 0.1 * math.log(noise) - 30.0 * noise
        prior_grad = np.empty(dims + 2)
        prior_grad[:dims] = 0.1 / lam - 0.1 * lam
        prior_grad[dims] = 1.0 - scale
        prior_grad[dims + 1] = 0.0 if self._deterministic else (0.1 / noise - 30.0) * rho
        return float(-(log_likelihood + log_prior)), -(grad + prior_grad)

    def _factor(
        self, p: KernelParams
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """At ``p``: the kernel matrix K and its derivative in the squared distance, the
        Cholesky factor of C = K + noise * I, ``alpha = C^-1 y`` and ``C^-1``."""
        n = len(self.y)
        matern, dmatern = _matern((self._sq_flat @ p.inverse_squared_lengthscales).reshape(n, n))
        kernel = p.kernel_scale * matern
        cov = kernel.copy()
        cov.flat[:: n + 1] += p.noise_var
        chol = _cholesky(cov)
        return kernel, p.kernel_scale * dmatern, chol, _solve(chol, self.y), _inverse(chol)

    def _cache(self) -> None:
        p = self.params
        last, fitted = self._last, self._fitted_raw
        if last is not None and fitted is not None and np.array_equal(last[0], fitted):
            _, self._alpha, self._inverse = last
        else:
            _, _, _, self._alpha, self._inverse = self._factor(p)
        self._last = None
        lam = p.inverse_squared_lengthscales
        self._lam_cont = np.where(self.categorical, 0.0, lam)
        self._x_norms = (self.x * self.x) @ self._lam_cont

    # --- prediction -----------------------------------------------------------------------

    def posterior_parts(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
        """What the posterior is computed from besides the inputs: ``alpha = C^-1 y``,
        ``C^-1``, the inverse squared length scales and the kernel scale."""
        p = self.params
        return self._alpha, self._inverse, p.inverse_squared_lengthscales, p.kernel_scale

    def posterior(
        self, points: np.ndarray, gradient: bool = False
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, np.ndarray | None]:
        """Mean and variance of the latent function at ``points`` [m, dims], with their
        gradients in the points' coordinates when asked ([m, dims] each; 0 for categories).

        Built from matrix products only (no [m, n, dims] tensors): this runs thousands of
        times per trial while the acquisition function is maximized."""
        p = self.params
        lam = self._lam_cont
        r2 = (
            ((points * points) @ lam)[:, None]
            + self._x_norms[None, :]
            - 2.0 * (points * lam) @ self.x.T
        )
        for j in np.flatnonzero(self.categorical):
            r2 = r2 + p.inverse_squared_lengthscales[j] * (points[:, j, None] != self.x[None, :, j])
        np.maximum(r2, 0.0, out=r2)
        if not gradient:
            k = _matern_value(r2)
            k *= p.kernel_scale  # [m, n]
            mean = k @ self._alpha
            b = k @ self._inverse  # k C^-1
            b *= k
            return mean, np.maximum(p.kernel_scale - b.sum(axis=1), 1e-12), None, None
        matern, dmatern = _matern(r2)
        k = p.kernel_scale * matern  # [m, n]
        mean = k @ self._alpha
        b = k @ self._inverse  # k C^-1
        var = np.maximum(p.kernel_scale - (k * b).sum(axis=1), 1e-12)
        coef = p.kernel_scale * dmatern  # d k / d r2
        ca = coef * self._alpha[None, :]
        dmean = 2.0 * lam * (points * ca.sum(axis=1)[:, None] - ca @ self.x)
        cb = coef * b
        dvar = -4.0 * lam * (points * cb.sum(axis=1)[:, None] - cb @ self.x)
        return mean, var, dmean, dvar


def log_h(z: np.ndarray) -> np.ndarray:
    """log(z * Phi(z) + phi(z)), the log expected improvement of a standard normal over -z,
    stable for very negative z (Ament et al. 2023, as Optuna computes it)."""
    out = np.empty_like(z)
    small = z < -25.0
    big = ~small
    zb = z[big]
    out[big] = np.log(zb * ndtr(zb) + np.exp(-0.5 * zb * zb - _LOG_SQRT_2PI))
    zs = z[small]
    out[small] = (
        -0.5 * zs * zs - _LOG_SQRT_2PI + np.log1p(_SQRT_HALF_PI * zs * erfcx(-_SQRT_HALF * zs))
    )
    return out


def log_ei(
    mean: np.ndarray,
    var: np.ndarray,
    best: float,
    dmean: np.ndarray | None = None,
    dvar: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray | None]:
    """log E[max(f - best, 0)] for f ~ N(mean, var), and its gradient when ``dmean`` and
    ``dvar`` are given."""
    sigma = np.sqrt(var)
    z = (mean - best) / sigma
    lh = log_h(z)
    value = lh + np.log(sigma)
    if dmean is None or dvar is None:
        return value, None
    ratio = np.exp(log_ndtr(z) - lh)  # d log h / dz = Phi(z) / h(z)
    dsigma = dvar / (2.0 * sigma[:, None])
    dz = dmean / sigma[:, None] - (z / sigma)[:, None] * dsigma
    grad = ratio[:, None] * dz + dsigma / sigma[:, None]
    return value, grad


def log_probability_below_zero(
    mean: np.ndarray,
    var: np.ndarray,
    dmean: np.ndarray | None = None,
    dvar: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray | None]:
    """log P(f <= 0) for f ~ N(mean, var) (a constraint being met), with its gradient."""
    sigma = np.sqrt(var)
    z = -mean / sigma
    value = log_ndtr(z)
    if dmean is None or dvar is None:
        return value, None
    # d log Phi(z) / dz = phi(z) / Phi(z)
    ratio = np.exp(-0.5 * z * z - _LOG_SQRT_2PI - value)
    dsigma = dvar / (2.0 * sigma[:, None])
    dz = -dmean / sigma[:, None] - (z / sigma)[:, None] * dsigma
    return value, ratio[:, None] * dz
