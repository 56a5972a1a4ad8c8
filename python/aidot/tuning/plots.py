"""Plots of a study, as matplotlib figures (``pip install 'aidot[plot]'``).

Each function returns a :class:`matplotlib.figure.Figure` built without pyplot (no display
or backend needed); :func:`save` writes it as a PNG::

    from aidot.tuning import plots
    plots.save(plots.plot_optimization_history(study), "history.png")
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from aidot.errors import InvalidArgumentError, NotFoundError
from aidot.tuning._distributions import CategoricalDistribution
from aidot.tuning._frozen import StudyDirection, TrialState

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from aidot.tuning._study import Study

__all__ = [
    "plot_contour",
    "plot_optimization_history",
    "plot_parallel_coordinate",
    "plot_param_importances",
    "plot_slice",
    "save",
]


def save(figure: Figure, path: str | os.PathLike[str], *, dpi: int = 120) -> None:
    """Writes ``figure`` to ``path`` (PNG unless the suffix says otherwise)."""
    figure.savefig(os.fspath(path), dpi=dpi, bbox_inches="tight")


def plot_optimization_history(study: Study, *, target_index: int = 0) -> Figure:
    """Each COMPLETE trial's value by trial number, and the best value so far."""
    trials = _complete(study)
    figure, axes = _figure()
    numbers = [t.number for t in trials]
    values = np.array([t.values[target_index] for t in trials])
    maximize = study.directions[target_index] is StudyDirection.MAXIMIZE
    best = np.maximum.accumulate(values) if maximize else np.minimum.accumulate(values)
    axes.scatter(numbers, values, s=14, alpha=0.6, label="objective value")
    axes.step(numbers, best, where="post", color="tab:red", label="best value")
    axes.set_xlabel("trial")
    axes.set_ylabel(_metric_name(study, target_index))
    axes.set_title(f"optimization history of {study.study_name}")
    axes.legend()
    return figure


def plot_param_importances(study: Study, params: Sequence[str] | None = None) -> Figure:
    """Horizontal bars of :meth:`Study.importance`, most important on top."""
    importances = study.importance(params)
    figure, axes = _figure(height=0.5 + 0.4 * len(importances))
    names = list(importances)[::-1]
    axes.barh(names, [importances[n] for n in names], color="tab:blue")
    axes.set_xlabel("share of explained variance")
    axes.set_title(f"parameter importance in {study.study_name}")
    return figure


def plot_parallel_coordinate(study: Study, params: Sequence[str] | None = None) -> Figure:
    """One line per COMPLETE trial across an axis per parameter, coloured by its value."""
    trials = _complete(study)
    names = _params(trials, params)
    figure, axes = _figure(width=max(6.0, 1.4 * (len(names) + 1)))
    values = np.array([t.values[0] for t in trials])
    columns = [_scaled(trials, name) for name in names]
    colours = _colours(values, study.directions[0])
    for row, colour in zip(range(len(trials)), colours, strict=True):
        axes.plot(
            range(len(names) + 1),
            [*(c[row] for c in columns), _unit(values)[row]],
            color=colour,
            alpha=0.5,
        )
    axes.set_xticks(range(len(names) + 1), [*names, _metric_name(study, 0)])
    axes.set_yticks([])
    axes.set_title(f"parallel coordinates of {study.study_name}")
    return figure


def plot_slice(study: Study, params: Sequence[str] | None = None) -> Figure:
    """For each parameter, the objective value of every COMPLETE trial against it."""
    from matplotlib.figure import Figure

    trials = _complete(study)
    names = _params(trials, params)
    figure = Figure(figsize=(3.2 * len(names), 3.2))
    for i, name in enumerate(names):
        axes = figure.add_subplot(1, len(names), i + 1)
        having = [t for t in trials if name in t.params]
        xs = [_plain(t.params[name]) for t in having]
        axes.scatter(
            xs, [t.values[0] for t in having], c=[t.number for t in having], cmap="Blues", s=14
        )
        distribution = having[0].distributions[name]
        if not isinstance(distribution, CategoricalDistribution) and distribution.log:
            axes.set_xscale("log")
        axes.set_xlabel(name)
        if i == 0:
            axes.set_ylabel(_metric_name(study, 0))
    figure.suptitle(f"slices of {study.study_name}")
    return figure


def plot_contour(study: Study, params: Sequence[str] | None = None) -> Figure:
    """The objective over two parameters (the two most important by default), interpolated
    between the COMPLETE trials, which are drawn on top."""
    trials = _complete(study)
    if params is None:
        params = list(study.importance())[:2]
    if len(params) != 2:
        raise InvalidArgumentError(f"a contour plot takes two parameters, got {list(params)}")
    a, b = params
    having = [t for t in trials if a in t.params and b in t.params]
    if len(having) < 3:
        raise NotFoundError(f"a contour of {a} and {b} needs 3 COMPLETE trials with both")
    figure, axes = _figure()
    x = np.array([_numeric(t, a) for t in having])
    y = np.array([_numeric(t, b) for t in having])
    z = np.array([t.values[0] for t in having])
    try:
        filled = axes.tricontourf(x, y, z, levels=14, cmap="viridis")
        figure.colorbar(filled, ax=axes, label=_metric_name(study, 0))
    except (ValueError, RuntimeError):  # points on a line: no triangulation, points only
        pass
    axes.scatter(x, y, c="white", edgecolors="black", s=16)
    axes.set_xlabel(a)
    axes.set_ylabel(b)
    axes.set_title(f"{_metric_name(study, 0)} over {a} and {b}")
    return figure


def _figure(width: float = 7.0, height: float = 4.5) -> tuple[Figure, Any]:
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise InvalidArgumentError("plots need matplotlib: pip install 'aidot[plot]'") from None
    figure = Figure(figsize=(width, height))
    return figure, figure.add_subplot(1, 1, 1)


def _complete(study: Study) -> list[Any]:
    trials = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    if not trials:
        raise NotFoundError(f"study {study.study_name!r} has no COMPLETE trial to plot yet")
    return trials


def _params(trials: list[Any], params: Sequence[str] | None) -> list[str]:
    seen = sorted({p for t in trials for p in t.params})
    if params is None:
        return seen
    unknown = [p for p in params if p not in seen]
    if unknown:
        raise InvalidArgumentError(
            f"no trial has {', '.join(unknown)}; parameters: {', '.join(seen)}"
        )
    return list(params)


def _scaled(trials: list[Any], name: str) -> np.ndarray:
    """A parameter's values in [0, 1] (NaN where a trial lacks it), for a shared axis."""
    values = np.array([_numeric(t, name) if name in t.params else np.nan for t in trials])
    return _unit(values)


def _numeric(trial: Any, name: str) -> float:
    distribution = trial.distributions[name]
    value = distribution.to_internal_repr(trial.params[name])
    if not isinstance(distribution, CategoricalDistribution) and distribution.log:
        return float(np.log10(value))
    return float(value)


def _unit(values: np.ndarray) -> np.ndarray:
    low, high = np.nanmin(values), np.nanmax(values)
    return np.asarray((values - low) / (high - low)) if high > low else np.full_like(values, 0.5)


def _colours(values: np.ndarray, direction: StudyDirection) -> list[Any]:
    from matplotlib import colormaps

    scaled = _unit(values)
    if direction is StudyDirection.MINIMIZE:
        scaled = 1.0 - scaled  # the best trials darkest either way
    cmap = colormaps["Blues"]
    return [cmap(0.25 + 0.75 * float(s)) for s in scaled]


def _plain(value: Any) -> Any:
    return "None" if value is None else value


def _metric_name(study: Study, index: int) -> str:
    names = study.metric_names
    return (
        names[index]
        if names
        else ("objective value" if len(study.directions) == 1 else f"objective {index}")
    )
