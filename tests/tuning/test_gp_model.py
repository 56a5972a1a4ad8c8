"""The Gaussian process behind GPSampler: its two posterior paths agree, its gradients are
those of its values, and it interpolates what it was fitted to."""

from __future__ import annotations

import numpy as np
import pytest

from aidot.errors import InvalidArgumentError
from aidot.tuning.samplers import _warm_bfgs as warm_bfgs
from aidot.tuning.samplers._gp import GaussianProcess, log_ei
from aidot.tuning.samplers._gp_sampler import _acquisition
from aidot.tuning.samplers._gp_search import local_maxima


@pytest.fixture
def model() -> GaussianProcess:
    # Few points: the posterior stays uncertain between them, so the acquisition's
    # gradients are moderate and finite differences can check them.
    rng = np.random.default_rng(0)
    x = rng.random((8, 3))
    y = np.sin(6 * x[:, 0]) + x[:, 1] ** 2 - x[:, 2]
    return GaussianProcess(x, (y - y.mean()) / y.std(), np.zeros(3, dtype=bool))


def test_scoring_with_and_without_gradients_gives_the_same_posterior(
    model: GaussianProcess,
) -> None:
    points = np.random.default_rng(1).random((500, 3))
    mean, var, _, _ = model.posterior(points)
    mean_g, var_g, _, _ = model.posterior(points, gradient=True)
    np.testing.assert_allclose(mean, mean_g, rtol=1e-10, atol=1e-12)
    # The variance is the kernel scale less a nearly equal term: rounding shows at 1e-10.
    np.testing.assert_allclose(var, var_g, rtol=1e-6, atol=1e-9)


def test_posterior_and_acquisition_gradients_match_finite_differences(
    model: GaussianProcess,
) -> None:
    points = np.random.default_rng(2).random((5, 3))
    mean, var, dmean, dvar = model.posterior(points, gradient=True)
    best = float(model.y.max())  # as the sampler asks: improve on the best value seen
    _, grad = log_ei(mean, var, best, dmean, dvar)
    assert dmean is not None
    assert dvar is not None
    assert grad is not None
    h = 1e-5  # central differences; the variance's rounding (1e-10) stays below 1e-5 here
    for j in range(3):
        up, down = points.copy(), points.copy()
        up[:, j] += h
        down[:, j] -= h
        mean_u, var_u, _, _ = model.posterior(up)
        mean_d, var_d, _, _ = model.posterior(down)
        value_u, _ = log_ei(mean_u, var_u, best)
        value_d, _ = log_ei(mean_d, var_d, best)
        np.testing.assert_allclose((mean_u - mean_d) / (2 * h), dmean[:, j], rtol=1e-4, atol=1e-6)
        np.testing.assert_allclose((var_u - var_d) / (2 * h), dvar[:, j], rtol=1e-3, atol=5e-5)
        np.testing.assert_allclose((value_u - value_d) / (2 * h), grad[:, j], rtol=5e-3, atol=1e-3)


def test_the_fitting_loss_gradient_matches_finite_differences(model: GaussianProcess) -> None:
    raw = model.params.raw() + 0.1
    loss, grad = model._loss(raw)
    h = 1e-6
    for i in range(len(raw)):
        shifted = raw.copy()
        shifted[i] += h
        np.testing.assert_allclose(
            (model._loss(shifted)[0] - loss) / h, grad[i], rtol=1e-3, atol=1e-4
        )


def test_the_fitting_loss_is_the_negative_log_posterior(model: GaussianProcess) -> None:
    # Straight from the definitions, with NumPy's dense algebra: -log N(y; 0, C) - log prior.
    raw = model.params.raw() + 0.1
    p = model._params(raw)
    lam, scale, noise = p.inverse_squared_lengthscales, p.kernel_scale, p.noise_var
    diff = model.x[:, None, :] - model.x[None, :, :]
    r = np.sqrt(5.0 * (diff * diff * lam).sum(axis=2))
    cov = scale * np.exp(-r) * (1.0 + r + r * r / 3.0) + noise * np.eye(len(model.y))
    _, log_det = np.linalg.slogdet(cov)
    log_likelihood = -0.5 * model.y @ np.linalg.solve(cov, model.y) - 0.5 * log_det
    log_prior = -(0.1 / lam + 0.1 * lam).sum() + np.log(scale) - scale
    log_prior += 0.1 * np.log(noise) - 30.0 * noise
    loss, _ = model._loss(raw)
    assert loss == pytest.approx(-(log_likelihood + log_prior), rel=1e-9)


def test_a_deterministic_model_interpolates_its_data() -> None:
    rng = np.random.default_rng(3)
    x = rng.random((20, 2))
    y = np.cos(3 * x[:, 0]) * x[:, 1]
    y = (y - y.mean()) / y.std()
    model = GaussianProcess(x, y, np.zeros(2, dtype=bool), deterministic=True)
    mean, var, _, _ = model.posterior(x)
    np.testing.assert_allclose(mean, y, atol=1e-3)
    assert np.all(var < 1e-3)


def test_the_rust_local_search_climbs_the_numpy_acquisition() -> None:
    # Two numbers and a category, an objective and a constraint: every part of the posterior.
    rng = np.random.default_rng(3)
    x = rng.random((12, 3))
    x[:, 2] = rng.integers(3, size=12)
    categorical = np.array([False, False, True])
    y = np.sin(5 * x[:, 0]) - x[:, 1] + 0.3 * x[:, 2]
    objective = GaussianProcess(x, (y - y.mean()) / y.std(), categorical)
    constraint = GaussianProcess(x, x[:, 0] - 0.6, categorical)
    best = float(objective.y.max())
    acquisition = _acquisition(objective, best, [constraint])
    starts = rng.random((6, 3))
    starts[:, 2] = rng.integers(3, size=6)
    points, values = local_maxima(
        objective,
        best,
        [constraint],
        starts,
        free=~categorical,
        scales=np.array([0.3, 0.3]),
    )
    # The Rust posterior is the NumPy one: the same acquisition at the points it found.
    np.testing.assert_allclose(values, acquisition(points, False)[0], rtol=1e-9, atol=1e-9)
    assert np.all(values >= acquisition(starts, False)[0] - 1e-12)
    np.testing.assert_array_equal(points[:, 2], starts[:, 2])  # categories stay
    assert np.all((points[:, :2] >= 0.0) & (points[:, :2] <= 1.0))
    # A maximum in the box (KKT): the NumPy gradient vanishes along interior coordinates
    # and points out of the box at a bound.
    _, grad = acquisition(points, True)
    assert grad is not None
    free_points, free_grad = points[:, :2], grad[:, :2]
    interior = (free_points > 1e-6) & (free_points < 1 - 1e-6)
    assert np.abs(free_grad[interior]).max(initial=0.0) < 1e-2
    assert np.all(free_grad[free_points <= 1e-6] <= 1e-2)
    assert np.all(free_grad[free_points >= 1 - 1e-6] >= -1e-2)


def test_the_rust_local_search_refuses_mismatched_arrays() -> None:
    rng = np.random.default_rng(4)
    x = rng.random((6, 2))
    model = GaussianProcess(x, x[:, 0] - x[:, 1], np.zeros(2, dtype=bool))
    with pytest.raises(InvalidArgumentError, match="free flags"):
        local_maxima(model, 0.0, [], rng.random((2, 2)), free=np.ones(3, bool), scales=np.ones(3))


def test_warm_bfgs_converges_and_a_known_curvature_makes_it_quick() -> None:
    a = np.array([[3.0, 0.5], [0.5, 1.0]])
    target = np.array([0.3, -2.0])

    def quadratic(x: np.ndarray) -> tuple[float, np.ndarray]:
        d = x - target
        return float(0.5 * d @ a @ d), a @ d

    cold = warm_bfgs.minimize(quadratic, np.zeros(2), np.eye(2), gtol=1e-8)
    warm = warm_bfgs.minimize(quadratic, np.zeros(2), np.linalg.inv(a), gtol=1e-8)
    for result in (cold, warm):
        assert result.converged
        np.testing.assert_allclose(result.x, target, atol=1e-6)
    assert warm.evaluations == 2  # one Newton step lands on the minimum
    assert cold.evaluations > warm.evaluations


def test_warm_bfgs_reports_a_search_that_cannot_move() -> None:
    def cliff(x: np.ndarray) -> tuple[float, np.ndarray]:
        if np.any(x != 0.0):
            return float("inf"), np.zeros_like(x)
        return 1.0, np.ones_like(x)

    result = warm_bfgs.minimize(cliff, np.zeros(3), np.eye(3))
    assert not result.converged
    np.testing.assert_array_equal(result.x, np.zeros(3))


def test_a_warm_refit_is_as_good_as_a_cold_one() -> None:
    rng = np.random.default_rng(5)
    x = rng.random((30, 4))
    y = np.sin(4 * x[:, 0]) + x[:, 1] * x[:, 2] - x[:, 3]
    y = (y - y.mean()) / y.std()
    first = GaussianProcess(x[:29], y[:29], np.zeros(4, dtype=bool))
    assert first.params.curvature is not None  # the cold fit hands its curvature on
    warm = GaussianProcess(x, y, np.zeros(4, dtype=bool), first.params)
    cold = GaussianProcess(x, y, np.zeros(4, dtype=bool))
    warm_loss = warm._loss(warm.params.raw())[0]
    cold_loss = cold._loss(cold.params.raw())[0]
    assert warm_loss <= cold_loss + 1e-3 * abs(cold_loss)
