"""LightGBM: a callback that logs each boosting round and lets a monitor stop training.

::

    from aidot.monitoring import EarlyStopping, TrainingMonitor
    from aidot.monitoring.lightgbm import aidot_callback

    with aidot.start_run("gbm") as run, TrainingMonitor(
        run, early_stopping=EarlyStopping("valid_0-l2", patience=10)
    ) as monitor:
        booster = lightgbm.train(params, train_set, 500, valid_sets=[valid_set],
                                 callbacks=[aidot_callback(monitor)])

Each round is an epoch of the monitor: the evaluation results (``valid_0-l2``, ...) are logged
at the round number and seen by early stopping and any callback; when the monitor stops,
LightGBM stops too and ``booster.best_iteration`` is the best round. Without a monitor the
results go straight to ``run`` (default: the active run). The training params are logged at
the first round.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aidot.monitoring._names import eval_metric_name

if TYPE_CHECKING:
    from aidot.monitoring._monitor import TrainingMonitor
    from aidot.tracking import Run

__all__ = ["AidotCallback", "aidot_callback"]


class AidotCallback:
    """The callable LightGBM calls after each round (see :func:`aidot_callback`)."""

    order = 25  # before LightGBM's own early stopping callback (30)
    before_iteration = False

    def __init__(
        self, monitor: TrainingMonitor | None, run: Run | None, *, log_params: bool
    ) -> None:
        from aidot.monitoring.sklearn import _resolve

        self.monitor = monitor
        self.run = monitor.run if monitor is not None else _resolve(run)
        self.log_params = log_params
        self._results: dict[int, list[Any]] = {}

    def __call__(self, env: Any) -> None:
        from lightgbm.callback import EarlyStopException

        if env.iteration == env.begin_iteration and self.log_params:
            self.run.log_params({k: v for k, v in env.params.items() if v is not None})
        results = list(env.evaluation_result_list or [])
        metrics = {eval_metric_name(r[0], r[1]): float(r[2]) for r in results}
        monitor = self.monitor
        if monitor is None:
            self.run.log_metrics(metrics, step=env.iteration)
            return
        if monitor.epoch != env.iteration:
            monitor.on_epoch_start(env.iteration)
        monitor.on_step()
        monitor.on_epoch_end(**metrics)
        self._results[env.iteration] = results
        if monitor.should_stop:
            stopping = monitor.early_stopping
            best = stopping.best_epoch if stopping and stopping.best_epoch is not None else None
            best = env.iteration if best is None else best
            raise EarlyStopException(best, self._results.get(best, results))
        if env.iteration + 1 < env.end_iteration:
            monitor.on_epoch_start(env.iteration + 1)  # times the next round from now


def aidot_callback(
    monitor: TrainingMonitor | None = None, *, run: Run | None = None, log_params: bool = True
) -> AidotCallback:
    """A LightGBM callback reporting to ``monitor`` (or, without one, logging to ``run``)."""
    return AidotCallback(monitor, run, log_params=log_params)
