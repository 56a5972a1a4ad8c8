"""Which parameters matter: main-effect variance of a random-forest surrogate (fANOVA-style)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from aidot.errors import InvalidArgumentError, NotFoundError
from aidot.tuning._distributions import CategoricalDistribution
from aidot.tuning._frozen import TrialState
from aidot.tuning.samplers._search_space import intersection_search_space, to_unit

if TYPE_CHECKING:
    from aidot.tuning._study import Study

_GRID_POINTS = 32
_ROWS = 256


def param_importances(
    study: Study,
    params: Sequence[str] | None = None,
    *,
    target_index: int = 0,
    n_trees: int = 64,
    seed: int = 0,
) -> dict[str, float]:
    """Each parameter's share (summing to 1, largest first) of the variance of the objective
    explained by its main effect.

    A random forest (scikit-learn's, ``n_trees`` trees) is fitted to the COMPLETE trials; a
    parameter's main effect is the forest's prediction averaged over the other parameters as
    the trials have them, with this one moved across its range (its partial dependence), and
    its importance is the variance of that curve. This is what fANOVA measures on the same
    surrogate for main effects; interactions are not attributed.
    """
    try:
        from sklearn.ensemble import RandomForestRegressor
    except ImportError:
        raise InvalidArgumentError(
            "parameter importance fits a random forest: pip install 'aidot[sklearn]'"
        ) from None
    trials = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    space = intersection_search_space(trials)
    if params is not None:
        missing = [p for p in params if p not in space]
        if missing:
            raise InvalidArgumentError(
                f"{', '.join(missing)}: not a parameter every COMPLETE trial has with one "
                f"distribution; choose among {', '.join(space) or 'none'}"
            )
        space = {p: space[p] for p in params}
    if len(trials) < 2 or not space:
        raise NotFoundError(
            f"study {study.study_name!r} needs at least 2 COMPLETE trials sharing parameters "
            "to rank them"
        )
    names = list(space)
    columns = []
    for name in names:
        d = space[name]
        internal = np.array([d.to_internal_repr(t.params[name]) for t in trials], dtype=float)
        columns.append(internal if isinstance(d, CategoricalDistribution) else to_unit(d, internal))
    x = np.stack(columns, axis=1)
    y = np.array([float((t.values or [np.nan])[target_index]) for t in trials])
    y = np.clip(y, -1e300, 1e300)
    forest = RandomForestRegressor(
        n_estimators=n_trees, max_depth=64, min_samples_split=2, random_state=seed, n_jobs=1
    )
    forest.fit(x, y)
    rng = np.random.default_rng(seed)
    rows = x if len(x) <= _ROWS else x[rng.choice(len(x), _ROWS, replace=False)]
    effects = {}
    for i, name in enumerate(names):
        d = space[name]
        if isinstance(d, CategoricalDistribution):
            grid = np.arange(len(d.choices), dtype=float)
        else:
            grid = np.unique(np.quantile(x[:, i], np.linspace(0, 1, _GRID_POINTS)))
        stacked = np.repeat(rows[None, :, :], len(grid), axis=0)
        stacked[:, :, i] = grid[:, None]
        curve = forest.predict(stacked.reshape(-1, x.shape[1])).reshape(len(grid), -1).mean(axis=1)
        effects[name] = float(np.var(curve))
    total = sum(effects.values())
    if total <= 0:
        shares = {name: 1.0 / len(names) for name in names}
    else:
        shares = {name: value / total for name, value in effects.items()}
    return dict(sorted(shares.items(), key=lambda item: -item[1]))
