"""Standard box-bounded test functions for comparing samplers (all minimized).

Shared by aidot's side of ``test_bench_tuning.py`` and Optuna's (``peers/optuna_tuning.py``):
both call :func:`objective` with their own trial object, whose ``suggest_float`` has one
signature in both libraries.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

_H3_A = np.array([[3.0, 10, 30], [0.1, 10, 35], [3.0, 10, 30], [0.1, 10, 35]])
_H3_P = 1e-4 * np.array(
    [[3689, 1170, 2673], [4699, 4387, 7470], [1091, 8732, 5547], [381, 5743, 8828]]
)
_H6_A = np.array(
    [
        [10, 3, 17, 3.5, 1.7, 8],
        [0.05, 10, 17, 0.1, 8, 14],
        [3, 3.5, 1.7, 10, 17, 8],
        [17, 8, 0.05, 10, 0.1, 14],
    ]
)
_H6_P = 1e-4 * np.array(
    [
        [1312, 1696, 5569, 124, 8283, 5886],
        [2329, 4135, 8307, 3736, 1004, 9991],
        [2348, 1451, 3522, 2883, 3047, 6650],
        [4047, 8828, 8732, 5743, 1091, 381],
    ]
)
_ALPHA = np.array([1.0, 1.2, 3.0, 3.2])


def branin(x: np.ndarray) -> float:
    a, b, c = 1.0, 5.1 / (4 * math.pi**2), 5 / math.pi
    return float(
        a * (x[1] - b * x[0] ** 2 + c * x[0] - 6) ** 2
        + 10 * (1 - 1 / (8 * math.pi)) * math.cos(x[0])
        + 10
    )


def hartmann3(x: np.ndarray) -> float:
    return float(-np.sum(_ALPHA * np.exp(-np.sum(_H3_A * (x - _H3_P) ** 2, axis=1))))


def hartmann6(x: np.ndarray) -> float:
    return float(-np.sum(_ALPHA * np.exp(-np.sum(_H6_A * (x - _H6_P) ** 2, axis=1))))


def rosenbrock(x: np.ndarray) -> float:
    return float(np.sum(100 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2))


def ackley(x: np.ndarray) -> float:
    d = len(x)
    return float(
        -20 * math.exp(-0.2 * math.sqrt(np.sum(x**2) / d))
        - math.exp(np.sum(np.cos(2 * math.pi * x)) / d)
        + 20
        + math.e
    )


def rastrigin(x: np.ndarray) -> float:
    return float(10 * len(x) + np.sum(x**2 - 10 * np.cos(2 * math.pi * x)))


def styblinski_tang(x: np.ndarray) -> float:
    return float(0.5 * np.sum(x**4 - 16 * x**2 + 5 * x))


def levy(x: np.ndarray) -> float:
    w = 1 + (x - 1) / 4
    head = math.sin(math.pi * w[0]) ** 2
    middle = np.sum((w[:-1] - 1) ** 2 * (1 + 10 * np.sin(math.pi * w[:-1] + 1) ** 2))
    tail = (w[-1] - 1) ** 2 * (1 + math.sin(2 * math.pi * w[-1]) ** 2)
    return float(head + middle + tail)


FUNCTIONS: dict[str, tuple[Callable[[np.ndarray], float], list[tuple[float, float]]]] = {
    "branin-2d": (branin, [(-5.0, 10.0), (0.0, 15.0)]),
    "hartmann-3d": (hartmann3, [(0.0, 1.0)] * 3),
    "hartmann-6d": (hartmann6, [(0.0, 1.0)] * 6),
    "rosenbrock-5d": (rosenbrock, [(-5.0, 10.0)] * 5),
    "ackley-5d": (ackley, [(-32.768, 32.768)] * 5),
    "rastrigin-5d": (rastrigin, [(-5.12, 5.12)] * 5),
    "styblinski-tang-5d": (styblinski_tang, [(-5.0, 5.0)] * 5),
    "levy-10d": (levy, [(-10.0, 10.0)] * 10),
}


def objective(name: str) -> Callable[[Any], float]:
    """The named function as an objective over ``x0, x1, ...``."""
    function, bounds = FUNCTIONS[name]

    def evaluate(trial: Any) -> float:
        x = np.array([trial.suggest_float(f"x{i}", lo, hi) for i, (lo, hi) in enumerate(bounds)])
        return function(x)

    return evaluate


def trivial(trial: Any) -> float:
    """The storage benchmark's objective: four parameters of every kind, no work."""
    x = trial.suggest_float("x", -5, 5)
    y = trial.suggest_float("y", 1e-3, 1.0, log=True)
    z = trial.suggest_int("z", 0, 10)
    c = trial.suggest_categorical("c", ["a", "bb"])
    return x * x + y + z + len(c)
