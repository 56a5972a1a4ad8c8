"""What a study remembers of its sampler and pruner, so that every worker uses the same kind.

A study stores the class name of its sampler and pruner (with the sampler's seed and, for a
grid, the grid) when it is created. A worker that loads the study without passing a sampler
or pruner gets a new one of that kind, its other settings at their defaults.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from aidot.tuning.pruners import BasePruner
    from aidot.tuning.samplers import HyperparameterOptimizer


def sampler_spec(sampler: HyperparameterOptimizer) -> dict[str, Any]:
    """The sampler's kind, seed and grid, as JSON."""
    from aidot.tuning.samplers import GridSampler

    spec: dict[str, Any] = {"name": type(sampler).__name__}
    seed = getattr(sampler, "_seed", None)
    if isinstance(seed, int):
        spec["seed"] = seed
    if isinstance(sampler, GridSampler):
        spec["grid"] = sampler._space
    return spec


def sampler_from_spec(spec: dict[str, Any] | None) -> HyperparameterOptimizer | None:
    """A new sampler of the recorded kind, or None for a kind aidot does not ship."""
    from aidot.tuning import samplers

    if not spec:
        return None
    name, seed = spec.get("name"), spec.get("seed")
    if name == "GridSampler":
        return samplers.GridSampler(spec["grid"], seed=seed)
    known = {
        "AutoSampler": samplers.AutoSampler,
        "TPESampler": samplers.TPESampler,
        "GPSampler": samplers.GPSampler,
        "CmaEsSampler": samplers.CmaEsSampler,
        "NSGAIISampler": samplers.NSGAIISampler,
        "QMCSampler": samplers.QMCSampler,
        "RandomSampler": samplers.RandomSampler,
    }
    factory = known.get(str(name))
    return None if factory is None else factory(seed=seed)


def pruner_spec(pruner: BasePruner) -> dict[str, Any]:
    """The pruner's kind, as JSON."""
    return {"name": type(pruner).__name__}


def pruner_from_spec(spec: dict[str, Any] | None) -> BasePruner | None:
    """A new pruner of the recorded kind with default settings, or None."""
    from aidot.tuning import pruners

    if not spec:
        return None
    known = {
        "MedianPruner": pruners.MedianPruner,
        "NopPruner": pruners.NopPruner,
        "SuccessiveHalvingPruner": pruners.SuccessiveHalvingPruner,
        "HyperbandPruner": pruners.HyperbandPruner,
    }
    factory = known.get(str(spec.get("name")))
    return None if factory is None else factory()
