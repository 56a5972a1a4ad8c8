"""Hyperparameter tuning with Optuna's API: studies of trials, samplers, pruners.

::

    import aidot

    def objective(trial):
        x = trial.suggest_float("x", -10, 10)
        return (x - 2) ** 2

    study = aidot.create_study(study_name="quadratic")
    study.optimize(objective, n_trials=100)
    study.best_params

Studies live in the workspace (every trial is a child run of the study's run), so several
processes or machines can run ``optimize`` on one study at once.
"""

from aidot.errors import TrialPruned
from aidot.tuning import plots, pruners, samplers
from aidot.tuning._distributions import (
    CategoricalDistribution,
    Distribution,
    FloatDistribution,
    IntDistribution,
)
from aidot.tuning._frozen import FrozenTrial, StudyDirection, TrialState
from aidot.tuning._importance import param_importances
from aidot.tuning._pruning_callback import PruningCallback
from aidot.tuning._study import Study
from aidot.tuning._trial import Trial
from aidot.tuning.pruners import (
    BasePruner,
    HyperbandPruner,
    MedianPruner,
    NopPruner,
    PercentilePruner,
    SuccessiveHalvingPruner,
    ThresholdPruner,
)
from aidot.tuning.samplers import (
    AutoSampler,
    BaseSampler,
    CmaEsSampler,
    GPSampler,
    GridSampler,
    HyperparameterOptimizer,
    NSGAIISampler,
    QMCSampler,
    RandomSampler,
    TPESampler,
)

__all__ = [
    "AutoSampler",
    "BasePruner",
    "BaseSampler",
    "CategoricalDistribution",
    "CmaEsSampler",
    "Distribution",
    "FloatDistribution",
    "FrozenTrial",
    "GPSampler",
    "GridSampler",
    "HyperbandPruner",
    "HyperparameterOptimizer",
    "IntDistribution",
    "MedianPruner",
    "NSGAIISampler",
    "NopPruner",
    "PercentilePruner",
    "PruningCallback",
    "QMCSampler",
    "RandomSampler",
    "Study",
    "StudyDirection",
    "SuccessiveHalvingPruner",
    "TPESampler",
    "ThresholdPruner",
    "Trial",
    "TrialPruned",
    "TrialState",
    "param_importances",
    "plots",
    "pruners",
    "samplers",
]
