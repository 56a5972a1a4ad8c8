"""TrainingMonitor: events, logged metrics, step times, system metrics, early stopping."""

from __future__ import annotations

import io
import math
import time
from collections.abc import Mapping
from typing import Any

import numpy as np
import pytest

import aidot
from aidot import Callback, EarlyStopping, TrainingMonitor
from aidot.errors import InvalidArgumentError
from aidot.monitoring import SystemMetricsSampler
from aidot.monitoring._progress import ProgressDisplay
from aidot.tracking import ExperimentTracker, Run


class Recorder(Callback):
    def __init__(self) -> None:
        self.events: list[tuple[Any, ...]] = []

    def on_train_start(self, monitor: TrainingMonitor) -> None:
        self.events.append(("train_start",))

    def on_epoch_start(self, monitor: TrainingMonitor, epoch: int) -> None:
        self.events.append(("epoch_start", epoch))

    def on_step(self, monitor: TrainingMonitor, step: int, metrics: Mapping[str, float]) -> None:
        self.events.append(("step", step, dict(metrics)))

    def on_epoch_end(
        self, monitor: TrainingMonitor, epoch: int, metrics: Mapping[str, float]
    ) -> None:
        self.events.append(("epoch_end", epoch, sorted(metrics)))

    def on_train_end(self, monitor: TrainingMonitor) -> None:
        self.events.append(("train_end",))


def test_a_training_loop_is_logged_to_the_run(tracker: ExperimentTracker, run: Run) -> None:
    recorder = Recorder()
    with TrainingMonitor(
        run, epochs=3, steps_per_epoch=4, callbacks=[recorder], system_metrics=False
    ) as monitor:
        for epoch in monitor.epochs():
            for i in range(4):
                time.sleep(0.002)
                monitor.on_step(loss=np.float32(1.0 / (epoch * 4 + i + 1)), lr=0.1)
            monitor.on_epoch_end(val_loss=1.0 / (epoch + 1), val_acc=0.5 + epoch / 10)
    run.flush()

    assert recorder.events[0] == ("train_start",)
    assert recorder.events[1] == ("epoch_start", 0)
    assert recorder.events[2] == ("step", 0, {"loss": 1.0, "lr": 0.1})
    assert recorder.events[-2] == (
        "epoch_end",
        2,
        ["loss_epoch", "lr_epoch", "val_acc", "val_loss"],
    )
    assert recorder.events[-1] == ("train_end",)
    loss = tracker.get_metric_history(run.id, "loss")
    np.testing.assert_array_equal(loss.steps, np.arange(12))
    np.testing.assert_allclose(loss.values, 1.0 / np.arange(1, 13), rtol=1e-6)
    val = tracker.get_metric_history(run.id, "val_loss")
    np.testing.assert_array_equal(val.steps, [0, 1, 2])
    mean = tracker.get_metric_history(run.id, "loss_epoch")
    np.testing.assert_allclose(mean.values[0], np.mean(1.0 / np.arange(1, 5)), rtol=1e-6)
    p50 = tracker.get_metric_history(run.id, "step_time_ms/p50")
    assert len(p50) == 3
    assert (p50.values >= 1.5).all()  # each step slept 2 ms
    p99 = tracker.get_metric_history(run.id, "step_time_ms/p99").values
    assert (p99 >= p50.values).all()
    assert monitor.history["val_acc"] == pytest.approx([0.5, 0.6, 0.7])
    info = tracker.get_run(run.id)
    assert info.tags["monitor.epochs"] == "3"
    assert info.tags["monitor.steps"] == "12"
    assert "monitor.stopped_early" not in info.tags


def test_early_stopping_stops_after_patience_epochs(tracker: ExperimentTracker, run: Run) -> None:
    stopping = EarlyStopping("val_loss", patience=2, min_delta=0.01)
    losses = [1.0, 0.8, 0.795, 0.79, 0.5, 0.4]  # epoch 1 is best by more than min_delta
    seen = []
    with TrainingMonitor(run, early_stopping=stopping, system_metrics=False) as monitor:
        for epoch in monitor.epochs(len(losses)):
            seen.append(epoch)
            monitor.on_epoch_end(val_loss=losses[epoch])
    assert seen == [0, 1, 2, 3]
    assert monitor.should_stop
    assert stopping.best_epoch == 1
    assert stopping.best_value == 0.8
    assert stopping.stopped_epoch == 3
    tags = tracker.get_run(run.id).tags
    assert tags["monitor.stopped_early"] == "true"
    assert "val_loss did not improve for 2 epochs" in tags["monitor.stop_reason"]
    assert tags["monitor.best_epoch"] == "1"


def test_early_stopping_modes() -> None:
    assert EarlyStopping("val_accuracy").mode == "max"
    assert EarlyStopping("val_loss").mode == "min"
    assert EarlyStopping("valid_0-auc").mode == "max"
    stopping = EarlyStopping("score", mode="max", patience=0)
    assert stopping._improved(0.5)
    stopping.best_value = 0.5
    assert not stopping._improved(0.5)
    assert not stopping._improved(math.nan)
    assert stopping._improved(0.6)
    with pytest.raises(InvalidArgumentError, match="mode"):
        EarlyStopping("x", mode="up")
    with pytest.raises(InvalidArgumentError, match="patience"):
        EarlyStopping("x", patience=-1)


def test_a_missing_monitored_metric_is_an_error_unless_not_strict(run: Run) -> None:
    with TrainingMonitor(
        run, early_stopping=EarlyStopping("val_loss"), system_metrics=False
    ) as monitor:
        monitor.on_epoch_start()
        with pytest.raises(InvalidArgumentError, match=r"'val_loss'.*loss, val_acc"):
            monitor.on_epoch_end(loss=1.0, val_acc=0.5)
    lenient = EarlyStopping("val_loss", strict=False, patience=0)
    with TrainingMonitor(run, early_stopping=lenient, system_metrics=False) as monitor:
        for _ in monitor.epochs(3):
            monitor.on_epoch_end(loss=1.0)
    assert not monitor.should_stop


def test_a_callback_can_stop_training(run: Run) -> None:
    class StopAtStep(Callback):
        def on_step(
            self, monitor: TrainingMonitor, step: int, metrics: Mapping[str, float]
        ) -> None:
            if metrics["loss"] < 0.25:
                monitor.stop_training("loss is low enough")

    with TrainingMonitor(run, callbacks=[StopAtStep()], system_metrics=False) as monitor:
        for epoch in monitor.epochs(100):
            for i in range(10):
                monitor.on_step(loss=1.0 / (epoch * 10 + i + 1))
    assert monitor.epoch == 0  # stopped after the epoch in which loss fell below 0.25
    assert monitor.stop_reason == "loss is low enough"


def test_system_metrics_are_sampled_in_the_background(tracker: ExperimentTracker, run: Run) -> None:
    with TrainingMonitor(run, system_interval=0.05) as monitor:
        deadline = time.monotonic() + 0.5
        while time.monotonic() < deadline:
            monitor.on_step(loss=sum(i * i for i in range(10_000)) * 0.0)
    run.flush()
    metrics = tracker.get_run(run.id).metrics
    for name in (
        "system/cpu_utilization_percentage",
        "system/process_memory_rss_megabytes",
        "system/process_cpu_percentage",
        "system/system_memory_usage_megabytes",
        "system/disk_read_megabytes_per_second",
        "system/network_receive_megabytes_per_second",
    ):
        assert name in metrics, name
    assert metrics["system/process_memory_rss_megabytes"] > 10
    samples = tracker.get_metric_history(run.id, "system/process_cpu_percentage")
    assert len(samples) >= 3
    assert samples.values.max() > 10  # the loop above kept a core busy


def test_gpu_metrics_come_from_nvml_when_present(monkeypatch: pytest.MonkeyPatch) -> None:
    # No GPU on this machine: a stand-in for NVIDIA's library exercises the NVML path.
    import sys
    import types

    fake = types.ModuleType("pynvml")
    fake.nvmlInit = lambda: None  # type: ignore[attr-defined]
    fake.nvmlDeviceGetCount = lambda: 2  # type: ignore[attr-defined]
    fake.nvmlDeviceGetHandleByIndex = lambda i: i  # type: ignore[attr-defined]
    fake.nvmlDeviceGetUtilizationRates = lambda h: types.SimpleNamespace(gpu=40 + h)  # type: ignore[attr-defined]
    fake.nvmlDeviceGetMemoryInfo = lambda h: types.SimpleNamespace(  # type: ignore[attr-defined]
        used=1024 * 1024 * 512, total=1024 * 1024 * 2048
    )
    monkeypatch.setitem(sys.modules, "pynvml", fake)
    logged: list[tuple[dict[str, float], int]] = []
    sampler = SystemMetricsSampler(lambda m, s: logged.append((dict(m), s)), interval=60)
    sampler.stop()
    assert sampler.gpu_count == 2
    sample, step = logged[0]
    assert step == 0
    assert sample["system/gpu_1_utilization_percentage"] == 41
    assert sample["system/gpu_0_memory_usage_megabytes"] == 512
    assert sample["system/gpu_0_memory_usage_percentage"] == 25


def test_progress_display_renders_epochs_steps_and_metrics(run: Run) -> None:
    from rich.console import Console

    out = io.StringIO()
    display = ProgressDisplay(2, 3, console=Console(file=out, force_terminal=True, width=150))
    display.epoch_started(0)
    display.steps(3, {"loss": 0.123456})
    display.epoch_ended({"val_loss": 0.5})
    display.stop()
    text = out.getvalue()
    assert "epoch 0" in text
    assert "loss=0.1235" in text
    assert "3/3" in text
    assert "1/2" in text


def test_monitor_uses_the_active_run_and_checks_its_arguments() -> None:
    with pytest.raises(InvalidArgumentError, match="needs a run"):
        TrainingMonitor()
    with aidot.start_run("fluent") as run:
        monitor = TrainingMonitor(system_metrics=False)
        assert monitor.run is run
        with pytest.raises(InvalidArgumentError, match="epochs"):
            TrainingMonitor(epochs=0)
        with monitor:
            with pytest.raises(InvalidArgumentError, match="'loss' must be a number"):
                monitor.on_step(loss="high")
            monitor.on_step(loss=1)


def test_a_real_terminal_gets_a_progress_display(run: Run) -> None:
    monitor = TrainingMonitor(run, progress=True, system_metrics=False, epochs=1)
    with monitor:
        assert monitor._display is not None
        monitor.on_step(loss=1.0)
    assert monitor._display is None
    assert not TrainingMonitor(run, system_metrics=False)._progress_enabled()  # not a tty
