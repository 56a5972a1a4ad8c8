"""Samplers: the search algorithms that pick each trial's parameters.

``HyperparameterOptimizer`` (Optuna's ``BaseSampler``) states the contract; each algorithm
lives in its own module.
"""

from aidot.tuning.samplers._auto import AutoSampler
from aidot.tuning.samplers._base import BaseSampler, ConstraintsFunc, HyperparameterOptimizer
from aidot.tuning.samplers._cmaes import CmaEsSampler
from aidot.tuning.samplers._gp_sampler import GPSampler
from aidot.tuning.samplers._grid import GridSampler
from aidot.tuning.samplers._nsga2 import NSGAIISampler
from aidot.tuning.samplers._qmc import QMCSampler
from aidot.tuning.samplers._random import RandomSampler
from aidot.tuning.samplers._search_space import intersection_search_space
from aidot.tuning.samplers._tpe import TPESampler

__all__ = [
    "AutoSampler",
    "BaseSampler",
    "CmaEsSampler",
    "ConstraintsFunc",
    "GPSampler",
    "GridSampler",
    "HyperparameterOptimizer",
    "NSGAIISampler",
    "QMCSampler",
    "RandomSampler",
    "TPESampler",
    "intersection_search_space",
]
