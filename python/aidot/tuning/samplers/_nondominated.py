"""Pareto ranks and crowding distances, shared by NSGA-II and multi-objective TPE."""

from __future__ import annotations

import numpy as np


def nondominated_ranks(values: np.ndarray) -> np.ndarray:
    """Rank 0 for the Pareto front of ``values`` ([n, objectives], all minimized), 1 for the
    front once rank 0 is removed, and so on."""
    n = values.shape[0]
    if n == 0:
        return np.zeros(0, dtype=int)
    no_worse = np.asarray((values[:, None, :] <= values[None, :, :]).all(axis=2))
    better = np.asarray((values[:, None, :] < values[None, :, :]).any(axis=2))
    dominates = no_worse & better  # dominates[i, j]: i dominates j
    dominated_by = dominates.sum(axis=0)
    ranks = np.full(n, -1, dtype=int)
    rank = 0
    current = np.flatnonzero(dominated_by == 0)
    while current.size:
        ranks[current] = rank
        dominated_by = dominated_by - dominates[current].sum(axis=0)
        dominated_by[ranks >= 0] = -1
        current = np.flatnonzero(dominated_by == 0)
        rank += 1
    return ranks


def crowding_distances(values: np.ndarray) -> np.ndarray:
    """How isolated each point of one front is (larger: more room around it); the extremes
    of every objective are infinitely isolated."""
    n, objectives = values.shape
    distance = np.zeros(n)
    if n <= 2:
        return np.full(n, np.inf)
    for m in range(objectives):
        order = np.argsort(values[:, m], kind="stable")
        column = values[order, m]
        span = column[-1] - column[0]
        distance[order[0]] = distance[order[-1]] = np.inf
        if span > 0 and np.isfinite(span):
            distance[order[1:-1]] += (column[2:] - column[:-2]) / span
    return distance
