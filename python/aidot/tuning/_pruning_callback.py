"""Pruning from inside a monitored training loop."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TYPE_CHECKING

from aidot.errors import InvalidArgumentError, TrialPruned
from aidot.monitoring import Callback

if TYPE_CHECKING:
    from aidot.monitoring import TrainingMonitor
    from aidot.tuning._trial import Trial


class PruningCallback(Callback):
    """Reports ``monitor`` (an epoch-level metric such as ``"val_loss"``) to ``trial`` at the
    end of every epoch and raises :class:`~aidot.tuning.TrialPruned` as soon as the study's
    pruner says so, so a loop run by a :class:`~aidot.TrainingMonitor` prunes itself::

        def objective(trial):
            lr = trial.suggest_float("lr", 1e-5, 1e-1, log=True)
            with TrainingMonitor(run=trial.run, callbacks=[PruningCallback(trial)]) as m:
                for epoch in m.epochs(20):
                    ...
                    m.on_epoch_end(val_loss=loss)
            return loss

    An epoch that ends without the metric raises :class:`~aidot.errors.InvalidArgumentError`
    (pruning that silently never happens is worse than an error).
    """

    def __init__(self, trial: Trial, monitor: str = "val_loss") -> None:
        self.trial = trial
        self.monitor = monitor

    def on_epoch_end(
        self, monitor: TrainingMonitor, epoch: int, metrics: Mapping[str, float]
    ) -> None:
        value = metrics.get(self.monitor)
        if value is None:
            have = ", ".join(sorted(metrics)) or "none"
            raise InvalidArgumentError(
                f"PruningCallback reports {self.monitor!r}, but epoch {epoch} ended with "
                f"metrics {have}; pass {self.monitor}=... to on_epoch_end or monitor one of these"
            )
        self.trial.report(float(value), epoch)
        if self.trial.should_prune():
            shown = "nan" if math.isnan(float(value)) else f"{float(value):.6g}"
            monitor.stop_training(f"pruned at epoch {epoch} ({self.monitor}={shown})")
            raise TrialPruned(f"trial {self.trial.number} pruned at epoch {epoch}")
