"""Step durations and their percentiles."""

from __future__ import annotations

from array import array
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

PERCENTILES = (50, 90, 99)


class StepTimes:
    """Durations of training steps (seconds), kept as 8-byte doubles: ten million steps take
    80 MB, and percentiles are exact rather than approximated. Summaries copy the array, since
    an ``array`` cannot grow while NumPy views it."""

    def __init__(self) -> None:
        self._all = array("d")
        self._epoch_start = 0

    def add(self, seconds: float) -> None:
        self._all.append(seconds)

    def __len__(self) -> int:
        return len(self._all)

    def start_epoch(self) -> None:
        self._epoch_start = len(self._all)

    def epoch_summary(self) -> dict[str, float]:
        """Percentiles (ms) and throughput of the steps since :meth:`start_epoch`."""
        import numpy as np

        return _summary(np.frombuffer(self._all, np.float64)[self._epoch_start :].copy())

    def summary(self) -> dict[str, float]:
        """Percentiles (ms) and throughput over every step so far."""
        import numpy as np

        return _summary(np.frombuffer(self._all, np.float64).copy())


def _summary(seconds: npt.NDArray[np.float64]) -> dict[str, float]:
    import numpy as np

    if len(seconds) == 0:
        return {}
    ms = seconds * 1000.0
    out = {
        f"step_time_ms/p{p}": float(v)
        for p, v in zip(PERCENTILES, np.percentile(ms, PERCENTILES), strict=True)
    }
    out["step_time_ms/mean"] = float(ms.mean())
    total = float(seconds.sum())
    if total > 0:
        out["steps_per_second"] = len(seconds) / total
    return out
