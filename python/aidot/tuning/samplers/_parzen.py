"""Parzen estimators: the weighted kernel mixtures TPE fits to good and bad trials.

Each observation (a trial's parameters) is one mixture component, a product of one kernel per
parameter: a normal truncated to the parameter's range (on the log scale for log parameters,
integrated over each value's cell for integer and stepped ones), or for a category a
distribution over the choices that leans towards the observed one. A broad prior component
keeps unexplored regions reachable. Everything is vectorized over components and candidates,
so a fit plus scoring costs well under a millisecond at a thousand trials.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.special import ndtr, ndtri

from aidot.tuning._distributions import CategoricalDistribution, Distribution

_EPS = 1e-12


def default_gamma(n: int) -> int:
    """How many of ``n`` finished trials count as good: 10%, at most 25."""
    return min(math.ceil(0.1 * n), 25)


def default_weights(n: int) -> np.ndarray:
    """Observation weights, oldest first: the 25 newest weigh 1, older ones ramp down."""
    if n == 0:
        return np.zeros(0)
    if n < 25:
        return np.ones(n)
    return np.concatenate([np.linspace(1.0 / n, 1.0, num=n - 25), np.ones(25)])


@dataclass
class _Numeric:
    mus: np.ndarray
    sigmas: np.ndarray
    low: float  # in the transformed (log) space, widened by half a step for stepped values
    high: float
    log: bool
    step: float | None
    grid_low: float  # the distribution's own bounds, for snapping samples
    grid_high: float

    def sample(self, rng: np.random.Generator, kernels: np.ndarray) -> np.ndarray:
        mu, sigma = self.mus[kernels], self.sigmas[kernels]
        a = (self.low - mu) / sigma
        b = (self.high - mu) / sigma
        # Sample the side of the normal away from the far tail, where ndtr keeps precision.
        flip = a > 0
        lo = np.where(flip, -b, a)
        hi = np.where(flip, -a, b)
        u = rng.uniform(ndtr(lo), ndtr(hi))
        z = ndtri(np.clip(u, 1e-300, 1 - 1e-16))
        x = mu + sigma * np.where(flip, -z, z)
        x = np.clip(x, self.low, self.high)
        return self._snap(np.exp(x) if self.log else x)

    def constant(self) -> np.ndarray:
        """The part of each kernel's log density that does not depend on the value: [k]."""
        log_z = _log_mass(self.low, self.high, self.mus, self.sigmas)
        if self.step is None:
            return np.asarray(-np.log(self.sigmas) - 0.5 * math.log(2 * math.pi) - log_z)
        return np.asarray(-log_z)

    def log_pdf(self, x: np.ndarray) -> np.ndarray:
        """Log density of each value ``x`` (internal, shape [m]) under each kernel, less
        :meth:`constant`: [m, k]."""
        t = np.log(x) if self.log else x
        mu, sigma = self.mus[None, :], self.sigmas[None, :]
        if self.step is None:
            z = (t[:, None] - mu) * (1.0 / sigma)
            z *= z
            z *= -0.5
            return np.asarray(z)
        if self.log:
            lo = np.log(np.maximum(x - self.step / 2, _EPS))[:, None]
            hi = np.log(x + self.step / 2)[:, None]
        else:
            lo = (t - self.step / 2)[:, None]
            hi = (t + self.step / 2)[:, None]
        return np.asarray(_log_mass(lo, hi, mu, sigma))

    def _snap(self, x: np.ndarray) -> np.ndarray:
        if self.step is not None:
            x = self.grid_low + np.round((x - self.grid_low) / self.step) * self.step
        return np.asarray(np.clip(x, self.grid_low, self.grid_high))


@dataclass
class _Categorical:
    log_weights: np.ndarray  # [k, choices]

    def sample(self, rng: np.random.Generator, kernels: np.ndarray) -> np.ndarray:
        probabilities = np.exp(self.log_weights[kernels])
        cumulative = np.cumsum(probabilities, axis=1)
        u = rng.uniform(size=len(kernels))[:, None] * cumulative[:, -1:]
        last = self.log_weights.shape[1] - 1
        return np.asarray(np.minimum((cumulative < u).sum(axis=1), last), dtype=float)

    def constant(self) -> np.ndarray:
        return np.zeros(self.log_weights.shape[0])

    def log_pdf(self, x: np.ndarray) -> np.ndarray:
        return np.asarray(self.log_weights[:, x.astype(int)].T)


def _log_mass(lo: object, hi: object, mu: np.ndarray, sigma: np.ndarray) -> np.ndarray:
    """log(Phi((hi - mu) / sigma) - Phi((lo - mu) / sigma)).

    Both ends are taken on the lower side of the normal (mirrored when the interval lies
    above the mean), where Phi keeps its relative precision far into the tail; the mass is
    floored at 1e-300. (``log_ndtr`` twice cost 3x more, and TPE evaluates this for every
    integer parameter, candidate and kernel.)"""
    a = (np.asarray(lo) - mu) / sigma
    b = (np.asarray(hi) - mu) / sigma
    flip = a > 0
    upper = ndtr(np.where(flip, -a, b))
    lower = ndtr(np.where(flip, -b, a))
    return np.asarray(np.log(np.maximum(upper - lower, 1e-300)))


class ParzenEstimator:
    """A weighted mixture over ``observations`` (internal values, one row per trial, one
    column per parameter of ``space``) plus a prior component."""

    def __init__(
        self,
        observations: np.ndarray,
        space: dict[str, Distribution],
        weights: np.ndarray,
        prior_weight: float = 1.0,
    ) -> None:
        count = observations.shape[0]
        mixture = np.append(weights, prior_weight) if count else np.ones(1)
        self.log_weights = np.log(mixture / mixture.sum())
        self.kernels: list[_Numeric | _Categorical] = [
            _kernels(observations[:, i], d, prior_weight) for i, d in enumerate(space.values())
        ]
        # Continuous parameters' squared distances come from two matrix products over all of
        # them at once (measured 1.5 ms -> 0.2 ms for 1,000 kernels, 24 points, 5 parameters),
        # in coordinates scaled to [0, 1] so that the expansion loses no precision.
        self._continuous = [
            i for i, k in enumerate(self.kernels) if isinstance(k, _Numeric) and k.step is None
        ]
        if self._continuous:
            numeric = [self.kernels[i] for i in self._continuous]
            self._lows = np.array([k.low for k in numeric])  # type: ignore[union-attr]
            spans = np.array([k.high - k.low for k in numeric])  # type: ignore[union-attr]
            self._spans = np.where(spans > 0, spans, 1.0)
            mus = np.stack([k.mus for k in numeric], axis=1)  # type: ignore[union-attr]
            mus = (mus - self._lows) / self._spans
            precision = (self._spans / np.stack([k.sigmas for k in numeric], axis=1)) ** 2  # type: ignore[union-attr]
            self._precision_t = np.ascontiguousarray(precision.T)  # [d, k]
            self._weighted_mus_t = np.ascontiguousarray((mus * precision).T)
            self._mu_terms = (mus * mus * precision).sum(axis=1)  # [k]
            self._logs = [bool(k.log) for k in numeric]  # type: ignore[union-attr]

    def sample(self, rng: np.random.Generator, size: int) -> np.ndarray:
        """``size`` points drawn from the mixture: [size, parameters]."""
        kernels = rng.choice(len(self.log_weights), size=size, p=np.exp(self.log_weights))
        return np.stack([k.sample(rng, kernels) for k in self.kernels], axis=1)

    def log_pdf(self, points: np.ndarray) -> np.ndarray:
        """The mixture's log density at each point."""
        # The per-kernel constants of every parameter are summed once, into one row.
        constant = self.log_weights + sum(k.constant() for k in self.kernels)
        total = np.repeat(constant[None, :], points.shape[0], axis=0)
        if self._continuous:
            x = points[:, self._continuous]
            x = np.where(self._logs, np.log(np.where(self._logs, x, 1.0)), x)
            x = (x - self._lows) / self._spans
            # sum_d p_kd (x_d - mu_kd)^2 = x^2 . p_k - 2 x . (mu p)_k + sum_d mu_kd^2 p_kd
            squared = (x * x) @ self._precision_t - 2.0 * (x @ self._weighted_mus_t)
            squared += self._mu_terms
            total -= 0.5 * np.maximum(squared, 0.0)
        for i, kernel in enumerate(self.kernels):
            if i not in self._continuous:
                total += kernel.log_pdf(points[:, i])
        peak = total.max(axis=1, keepdims=True)
        total -= peak
        np.exp(total, out=total)
        return np.asarray(peak[:, 0] + np.log(total.sum(axis=1)))


def _kernels(
    values: np.ndarray, distribution: Distribution, prior_weight: float
) -> _Numeric | _Categorical:
    if isinstance(distribution, CategoricalDistribution):
        choices = len(distribution.choices)
        count = len(values)
        if count == 0:
            return _Categorical(np.full((1, choices), -math.log(choices)))
        weights = np.full((count + 1, choices), prior_weight / (count + 1))
        weights[np.arange(count), values.astype(int)] += 1.0
        weights /= weights.sum(axis=1, keepdims=True)
        return _Categorical(np.log(weights))
    step = distribution.step
    grid_low, grid_high = float(distribution.low), float(distribution.high)
    low, high = grid_low, grid_high
    if step is not None:
        low, high = low - step / 2, high + step / 2
    mus = np.asarray(values, dtype=float)
    if distribution.log:
        low, high, mus = math.log(low), math.log(high), np.log(mus)
    sigmas = _bandwidths(mus, low, high)
    return _Numeric(
        mus=np.append(mus, 0.5 * (low + high)),
        sigmas=np.append(sigmas, high - low),
        low=low,
        high=high,
        log=distribution.log,
        step=None if step is None else float(step),
        grid_low=grid_low,
        grid_high=grid_high,
    )


def _bandwidths(mus: np.ndarray, low: float, high: float) -> np.ndarray:
    """Each kernel as wide as the larger gap to its neighbours (the range's ends count as
    neighbours, except for the outermost kernels), clipped to ``[range / min(100, n + 2),
    range]``: the "magic clip" that keeps kernels from collapsing."""
    count = len(mus)
    if count == 0:
        return np.zeros(0)
    order = np.argsort(mus)
    padded = np.concatenate([[low], mus[order], [high]])
    widths = np.maximum(padded[1:-1] - padded[:-2], padded[2:] - padded[1:-1])
    if count >= 2:
        widths[0] = padded[2] - padded[1]
        widths[-1] = padded[-2] - padded[-3]
    sigmas = np.empty(count)
    sigmas[order] = widths
    span = high - low
    return np.clip(sigmas, span / min(100.0, count + 2.0), span)
