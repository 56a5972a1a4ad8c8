"""The callback interface of :class:`~aidot.monitoring.TrainingMonitor`, and early stopping."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TYPE_CHECKING

from aidot.errors import InvalidArgumentError

if TYPE_CHECKING:
    from aidot.monitoring._monitor import TrainingMonitor


class Callback:
    """Hooks a :class:`~aidot.monitoring.TrainingMonitor` calls as training goes; override the
    ones you need (each does nothing by default). Call ``monitor.stop_training(reason)`` to
    end training after the current epoch."""

    def on_train_start(self, monitor: TrainingMonitor) -> None:
        """Training begins (the monitor's ``with`` block is entered)."""

    def on_epoch_start(self, monitor: TrainingMonitor, epoch: int) -> None:
        """Epoch ``epoch`` (0-based) begins."""

    def on_step(self, monitor: TrainingMonitor, step: int, metrics: Mapping[str, float]) -> None:
        """A training step ended; ``step`` counts steps over all epochs."""

    def on_epoch_end(
        self, monitor: TrainingMonitor, epoch: int, metrics: Mapping[str, float]
    ) -> None:
        """Epoch ``epoch`` ended with these epoch-level metrics (validation scores, means)."""

    def on_train_end(self, monitor: TrainingMonitor) -> None:
        """Training ended, normally, early, or by an exception."""


class EarlyStopping(Callback):
    """Stops training when ``monitor`` (an epoch-level metric) has not improved by more than
    ``min_delta`` for ``patience`` epochs, as Keras and Lightning users expect.

    ``mode`` is ``"min"`` (a loss), ``"max"`` (an accuracy) or ``"auto"`` (``max`` for names
    with acc, auc, f1, precision, recall or score in them, else ``min``). With ``strict``, an
    epoch that ends without the monitored metric is an error rather than silently never
    stopping. NaN never counts as an improvement.
    """

    _MAX_HINTS = ("acc", "auc", "f1", "precision", "recall", "score", "ndcg", "map")

    def __init__(
        self,
        monitor: str = "val_loss",
        *,
        mode: str = "auto",
        patience: int = 3,
        min_delta: float = 0.0,
        strict: bool = True,
    ) -> None:
        if mode not in ("min", "max", "auto"):
            raise InvalidArgumentError(f"mode must be 'min', 'max' or 'auto', got {mode!r}")
        if patience < 0:
            raise InvalidArgumentError(f"patience must be 0 or more epochs, got {patience}")
        if min_delta < 0:
            raise InvalidArgumentError(f"min_delta must be 0 or more, got {min_delta}")
        if mode == "auto":
            mode = "max" if any(h in monitor.lower() for h in self._MAX_HINTS) else "min"
        self.monitor = monitor
        self.mode = mode
        self.patience = patience
        self.min_delta = min_delta
        self.strict = strict
        self.best_value: float | None = None
        self.best_epoch: int | None = None
        self.stopped_epoch: int | None = None
        self.wait = 0

    def on_train_start(self, monitor: TrainingMonitor) -> None:
        self.best_value = self.best_epoch = self.stopped_epoch = None
        self.wait = 0

    def on_epoch_end(
        self, monitor: TrainingMonitor, epoch: int, metrics: Mapping[str, float]
    ) -> None:
        value = metrics.get(self.monitor)
        if value is None:
            if self.strict:
                have = ", ".join(sorted(metrics)) or "none"
                raise InvalidArgumentError(
                    f"early stopping monitors {self.monitor!r} but epoch {epoch} ended with "
                    f"metrics {have}; pass {self.monitor}=... to on_epoch_end, monitor one of "
                    "these, or use EarlyStopping(strict=False) to skip such epochs"
                )
            return
        if self._improved(float(value)):
            self.best_value, self.best_epoch, self.wait = float(value), epoch, 0
            return
        self.wait += 1
        if self.wait >= self.patience:
            self.stopped_epoch = epoch
            monitor.stop_training(
                f"{self.monitor} did not improve for {self.wait} epochs "
                f"(best {self.best_value} at epoch {self.best_epoch})"
            )

    def _improved(self, value: float) -> bool:
        if math.isnan(value):
            return False
        if self.best_value is None:
            return True
        if self.mode == "min":
            return value < self.best_value - self.min_delta
        return value > self.best_value + self.min_delta
