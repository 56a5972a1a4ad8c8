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


def samplers_by_name() -> dict[str, type[HyperparameterOptimizer]]:
    """The samplers a study or a worker can name, by their command-line names (a grid needs
    its points, so it is named only through a study's record)."""
    from aidot.tuning import samplers

    return {
        "auto": samplers.AutoSampler,
        "tpe": samplers.TPESampler,
        "gp": samplers.GPSampler,
        "cmaes": samplers.CmaEsSampler,
        "nsga2": samplers.NSGAIISampler,
        "qmc": samplers.QMCSampler,
        "random": samplers.RandomSampler,
    }


def pruners_by_name() -> dict[str, type[BasePruner]]:
    """The pruners that run with default settings, by their command-line names."""
    from aidot.tuning import pruners

    return {
        "median": pruners.MedianPruner,
        "asha": pruners.SuccessiveHalvingPruner,
        "hyperband": pruners.HyperbandPruner,
        "none": pruners.NopPruner,
    }


def sampler_from_spec(spec: dict[str, Any] | None) -> HyperparameterOptimizer | None:
    """A new sampler of the recorded kind, or None for a kind aidot does not ship."""
    from aidot.tuning import samplers

    if not spec:
        return None
    name, seed = spec.get("name"), spec.get("seed")
    if name == "GridSampler":
        return samplers.GridSampler(spec["grid"], seed=seed)
    known = {cls.__name__: cls for cls in samplers_by_name().values()}
    factory = known.get(str(name))
    return None if factory is None else factory(seed=seed)  # type: ignore[call-arg]


def pruner_spec(pruner: BasePruner) -> dict[str, Any]:
    """The pruner's kind, as JSON."""
    return {"name": type(pruner).__name__}


def pruner_from_spec(spec: dict[str, Any] | None) -> BasePruner | None:
    """A new pruner of the recorded kind with default settings, or None."""
    if not spec:
        return None
    known = {cls.__name__: cls for cls in pruners_by_name().values()}
    factory = known.get(str(spec.get("name")))
    return None if factory is None else factory()
