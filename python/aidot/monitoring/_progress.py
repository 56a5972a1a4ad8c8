"""The rich progress display of a TrainingMonitor: an epoch bar, a step bar, latest metrics."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


class ProgressDisplay:
    """Two rich progress bars on stderr, redrawn by rich's own thread; the monitor feeds them
    at most ten times a second, so the training loop does not pay for formatting."""

    def __init__(
        self,
        epochs: int | None,
        steps_per_epoch: int | None,
        console: Any = None,
    ) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self._progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            TextColumn("{task.fields[metrics]}"),
            console=console or Console(stderr=True),
        )
        self._steps_per_epoch = steps_per_epoch
        self._epochs = self._progress.add_task("epochs", total=epochs, metrics="")
        self._steps = self._progress.add_task("steps", total=steps_per_epoch, metrics="")
        self._progress.start()

    def epoch_started(self, epoch: int) -> None:
        self._progress.reset(
            self._steps, total=self._steps_per_epoch, description=f"epoch {epoch}", metrics=""
        )

    def steps(self, advance: int, metrics: Mapping[str, float]) -> None:
        self._progress.update(self._steps, advance=advance, metrics=_format(metrics))

    def epoch_ended(self, metrics: Mapping[str, float]) -> None:
        self._progress.update(self._epochs, advance=1, metrics=_format(metrics))

    def stop(self) -> None:
        self._progress.stop()


def _format(metrics: Mapping[str, float]) -> str:
    return "  ".join(f"{k}={v:.4g}" for k, v in list(metrics.items())[:6])
