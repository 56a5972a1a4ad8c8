"""XGBoost: a training callback that logs each boosting round and lets a monitor stop training.

::

    from aidot.monitoring import EarlyStopping, TrainingMonitor
    from aidot.monitoring.xgboost import AidotCallback

    with aidot.start_run("xgb") as run, TrainingMonitor(
        run, early_stopping=EarlyStopping("eval-rmse", patience=10)
    ) as monitor:
        run.log_params(params)
        booster = xgboost.train(params, dtrain, 500, evals=[(dvalid, "eval")],
                                callbacks=[AidotCallback(monitor)])

Each round is an epoch of the monitor: the evaluation results (``eval-rmse``, ...) are logged at
the round number and seen by early stopping and any callback; when the monitor stops, XGBoost
stops too and ``booster.best_iteration`` / ``best_score`` name the best round, as with XGBoost's
own early stopping. Without a monitor the results go straight to ``run`` (default: the active
run). ``xgboost.train`` does not show its params to callbacks: log them yourself.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import xgboost

from aidot.monitoring._names import eval_metric_name

if TYPE_CHECKING:
    from aidot.monitoring._monitor import TrainingMonitor
    from aidot.tracking import Run

__all__ = ["AidotCallback"]


class AidotCallback(xgboost.callback.TrainingCallback):
    """Reports every round to ``monitor`` (or, without one, logs it to ``run``)."""

    def __init__(self, monitor: TrainingMonitor | None = None, *, run: Run | None = None) -> None:
        from aidot.monitoring.sklearn import _resolve

        super().__init__()
        self.monitor = monitor
        self.run = monitor.run if monitor is not None else _resolve(run)

    def before_iteration(self, model: Any, epoch: int, evals_log: Any) -> bool:
        if self.monitor is not None:
            self.monitor.on_epoch_start(epoch)
        return False

    def after_iteration(self, model: Any, epoch: int, evals_log: Any) -> bool:
        metrics = {}
        for dataset, by_metric in evals_log.items():
            for metric, values in by_metric.items():
                last = values[-1]
                # xgboost.cv logs (mean, std) pairs.
                metrics[eval_metric_name(dataset, metric)] = float(
                    last[0] if isinstance(last, tuple) else last
                )
        monitor = self.monitor
        if monitor is None:
            self.run.log_metrics(metrics, step=epoch)
            return False
        monitor.on_step()
        monitor.on_epoch_end(**metrics)
        return monitor.should_stop

    def after_training(self, model: Any) -> Any:
        stopping = self.monitor.early_stopping if self.monitor is not None else None
        if stopping is not None and stopping.best_epoch is not None and hasattr(model, "set_attr"):
            model.set_attr(
                best_iteration=str(stopping.best_epoch), best_score=str(stopping.best_value)
            )
        return model
