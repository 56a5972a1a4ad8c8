"""TrainingMonitor: epoch and step events of a training loop, logged to a run."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from time import perf_counter
from types import TracebackType
from typing import TYPE_CHECKING, Any

from aidot.errors import InvalidArgumentError
from aidot.monitoring._callbacks import Callback, EarlyStopping
from aidot.monitoring._step_times import StepTimes

if TYPE_CHECKING:
    from aidot.monitoring._progress import ProgressDisplay
    from aidot.monitoring._system import SystemMetricsSampler
    from aidot.tracking import Run

_DISPLAY_EVERY_S = 0.1


class TrainingMonitor:
    """Watches a training loop and logs it to a run::

        with aidot.start_run("mnist") as run, TrainingMonitor(
            run, epochs=20, steps_per_epoch=len(loader),
            early_stopping=EarlyStopping("val_loss", patience=3),
        ) as monitor:
            for epoch in monitor.epochs():
                for x, y in loader:
                    loss = train_step(x, y)
                    monitor.on_step(loss=loss)
                monitor.on_epoch_end(val_loss=evaluate(), val_acc=accuracy())

    Step metrics (``on_step``) are logged at the global step; epoch metrics (``on_epoch_end``),
    the epoch means of step metrics (``<name>_epoch``) and step-time percentiles
    (``step_time_ms/p50``, ``p90``, ``p99``, ``mean``, and ``steps_per_second``) at the epoch
    number. System metrics (``system/...``, see :class:`SystemMetricsSampler`) are sampled
    every ``system_interval`` seconds in the background. ``progress`` shows rich progress bars
    (default: when stderr is a terminal). Early stopping and any other :class:`Callback` see
    every event; once one calls :meth:`stop_training`, :meth:`epochs` stops after the current
    epoch and :attr:`should_stop` is true.

    ``run`` defaults to the active run (``aidot.start_run``).
    """

    def __init__(
        self,
        run: Run | None = None,
        *,
        epochs: int | None = None,
        steps_per_epoch: int | None = None,
        early_stopping: EarlyStopping | None = None,
        callbacks: Sequence[Callback] = (),
        system_metrics: bool = True,
        system_interval: float = 10.0,
        progress: bool | None = None,
        log_every_n_steps: int = 1,
    ) -> None:
        if run is None:
            from aidot._fluent import active_run

            run = active_run()
            if run is None:
                raise InvalidArgumentError(
                    "TrainingMonitor needs a run: pass run=, or start one with aidot.start_run()"
                )
        for name, value in (("epochs", epochs), ("steps_per_epoch", steps_per_epoch)):
            if value is not None and value < 1:
                raise InvalidArgumentError(f"{name} must be at least 1, got {value}")
        if log_every_n_steps < 1:
            raise InvalidArgumentError(
                f"log_every_n_steps must be at least 1, got {log_every_n_steps}"
            )
        if system_interval <= 0:
            raise InvalidArgumentError(f"system_interval must be positive, got {system_interval}")
        self.run = run
        self.total_epochs = epochs
        self.steps_per_epoch = steps_per_epoch
        self.early_stopping = early_stopping
        self.callbacks: list[Callback] = [*callbacks]
        if early_stopping is not None:
            self.callbacks.append(early_stopping)
        self.epoch = -1
        """The current epoch (0-based; -1 before the first)."""
        self.global_step = 0
        """Steps so far, over all epochs."""
        self.should_stop = False
        self.stop_reason: str | None = None
        self.history: dict[str, list[float]] = {}
        """Epoch-level metrics by name, one value per epoch that logged it (as Keras)."""
        self.step_times = StepTimes()
        self._system_metrics = system_metrics
        self._system_interval = system_interval
        self._progress_wanted = progress
        self._log_every = log_every_n_steps
        self._sampler: SystemMetricsSampler | None = None
        self._display: ProgressDisplay | None = None
        self._started = False
        self._in_epoch = False
        self._last_tick = 0.0
        self._last_display = 0.0
        self._undisplayed = 0
        self._sums: dict[str, float] = {}
        self._counts: dict[str, int] = {}
        self._train_start = 0.0

    # --- events ---------------------------------------------------------------------------

    def on_train_start(self) -> None:
        """Starts the system sampler and the progress display (entering ``with`` calls it)."""
        if self._started:
            return
        self._started = True
        self._train_start = perf_counter()
        if self._system_metrics:
            from aidot.monitoring._system import SystemMetricsSampler

            self._sampler = SystemMetricsSampler(self._log_system, self._system_interval)
        if self._progress_enabled():
            from aidot.monitoring._progress import ProgressDisplay

            self._display = ProgressDisplay(self.total_epochs, self.steps_per_epoch)
        for callback in self.callbacks:
            callback.on_train_start(self)

    def on_epoch_start(self, epoch: int | None = None) -> None:
        """Epoch ``epoch`` (default: the next one) begins; the step timer restarts."""
        if not self._started:
            self.on_train_start()
        if self._in_epoch:
            self.on_epoch_end()
        self.epoch = self.epoch + 1 if epoch is None else int(epoch)
        self._in_epoch = True
        self._sums.clear()
        self._counts.clear()
        self.step_times.start_epoch()
        if self._display is not None:
            self._display.epoch_started(self.epoch)
        for callback in self.callbacks:
            callback.on_epoch_start(self, self.epoch)
        self._last_tick = perf_counter()

    def on_step(self, **metrics: Any) -> None:
        """A training step ended: times it and logs ``metrics`` (e.g. ``loss=0.3``) at the
        global step. Values may be floats, NumPy scalars or 0-d tensors."""
        now = perf_counter()
        if not self._in_epoch:
            self.on_epoch_start()
            now = self._last_tick  # the first step's time is unknown; count it from here
        self.step_times.add(now - self._last_tick)
        self._last_tick = now
        step = self.global_step
        self.global_step = step + 1
        values = {key: _number(key, value) for key, value in metrics.items()}
        sums, counts = self._sums, self._counts
        for key, value in values.items():
            sums[key] = sums.get(key, 0.0) + value
            counts[key] = counts.get(key, 0) + 1
        if step % self._log_every == 0:
            log = self.run.log_metric
            for key, value in values.items():
                log(key, value, step)
        for callback in self.callbacks:
            callback.on_step(self, step, values)
        if self._display is not None:
            self._undisplayed += 1
            if now - self._last_display >= _DISPLAY_EVERY_S:
                self._display.steps(self._undisplayed, values)
                self._undisplayed = 0
                self._last_display = now

    def on_epoch_end(self, **metrics: Any) -> None:
        """The epoch ended with these epoch-level metrics (e.g. ``val_loss=...``): logs them,
        the epoch means of step metrics and step-time percentiles, then runs the callbacks
        (early stopping among them)."""
        if not self._in_epoch:
            self.on_epoch_start()
        self._in_epoch = False
        epoch = self.epoch
        values = {key: _number(key, value) for key, value in metrics.items()}
        for key, total in self._sums.items():
            values.setdefault(f"{key}_epoch", total / self._counts[key])
        logged = {**values, **self.step_times.epoch_summary()}
        self.run.log_metrics(logged, step=epoch)
        for key, value in values.items():
            self.history.setdefault(key, []).append(value)
        if self._display is not None:
            if self._undisplayed:
                self._display.steps(self._undisplayed, {})
                self._undisplayed = 0
            self._display.epoch_ended(values)
        for callback in self.callbacks:
            callback.on_epoch_end(self, epoch, values)

    def on_train_end(self) -> None:
        """Stops the sampler and the display, and records a summary on the run as tags."""
        if not self._started:
            return
        self._started = False
        try:
            if self._in_epoch:
                self.on_epoch_end()
            summary = self.summary()
            tags = {f"monitor.{k}": v for k, v in summary.items() if v is not None}
            self.run.set_tags(tags)
            for callback in self.callbacks:
                callback.on_train_end(self)
        finally:
            if self._sampler is not None:
                self._sampler.stop()
                self._sampler = None
            if self._display is not None:
                self._display.stop()
                self._display = None

    # --- control --------------------------------------------------------------------------

    def epochs(self, count: int | None = None) -> Iterator[int]:
        """Yields epoch numbers, calling :meth:`on_epoch_start` before each and
        :meth:`on_epoch_end` after it if the loop body did not; stops after ``count`` (default
        the ``epochs`` given to the monitor; without either, until stopped) or once
        :attr:`should_stop`."""
        if count is not None:
            self.total_epochs = count
        total = self.total_epochs
        done = 0
        while (total is None or done < total) and not self.should_stop:
            self.on_epoch_start()
            yield self.epoch
            if self._in_epoch:
                self.on_epoch_end()
            done += 1

    def stop_training(self, reason: str = "stopped by a callback") -> None:
        """Asks the loop to stop after the current epoch (:attr:`should_stop` becomes true)."""
        if not self.should_stop:
            self.should_stop = True
            self.stop_reason = reason
            self.run.set_tags({"monitor.stopped_early": "true", "monitor.stop_reason": reason})

    def summary(self) -> dict[str, Any]:
        """Epochs and steps run, wall time, step-time percentiles, and early stopping's
        outcome."""
        out: dict[str, Any] = {
            "epochs": self.epoch + 1,
            "steps": self.global_step,
            "seconds": round(perf_counter() - self._train_start, 3),
        }
        out.update({k: round(v, 4) for k, v in self.step_times.summary().items()})
        if self.early_stopping is not None:
            out["best_epoch"] = self.early_stopping.best_epoch
            out["best_value"] = self.early_stopping.best_value
        return out

    def __enter__(self) -> TrainingMonitor:
        self.on_train_start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.on_train_end()

    # --- helpers --------------------------------------------------------------------------

    def _progress_enabled(self) -> bool:
        if self._progress_wanted is not None:
            return self._progress_wanted
        import sys

        return sys.stderr.isatty()

    def _log_system(self, metrics: Mapping[str, float], sample: int) -> None:
        self.run.log_metrics(metrics, step=sample)


def _number(key: str, value: Any) -> float:
    if value.__class__ is float:
        return float(value)
    if isinstance(value, (str, bytes)):
        raise InvalidArgumentError(f"metric {key!r} must be a number, got {value!r}")
    try:
        return float(value.item() if hasattr(value, "item") else value)
    except (TypeError, ValueError):
        raise InvalidArgumentError(
            f"metric {key!r} must be a number, got {type(value).__name__} {value!r}"
        ) from None
