"""The pruner contract: deciding from intermediate values whether a trial should stop."""

from __future__ import annotations

import abc
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from aidot.tuning._frozen import FrozenTrial
    from aidot.tuning._study import Study


class BasePruner(abc.ABC):
    """Decides whether a running trial is hopeless (Optuna's ``BasePruner``).

    :meth:`prune` is called from ``trial.should_prune()`` with a snapshot of the trial (its
    ``intermediate_values`` so far); it compares them with the study's other trials
    (``study.get_trials(deepcopy=False)``, every worker's) and must not change them; notes it
    puts in ``trial.system_attrs`` (the snapshot's) are stored with the trial, for the other
    workers to see. It may be called from several threads at once. Pruners work on
    single-objective studies.
    """

    @abc.abstractmethod
    def prune(self, study: Study, trial: FrozenTrial) -> bool:
        """Whether ``trial`` should stop now."""


class NopPruner(BasePruner):
    """Never prunes."""

    def prune(self, study: Study, trial: FrozenTrial) -> bool:
        return False
