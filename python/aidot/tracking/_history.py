"""Reading metric series back."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from aidot.errors import NotFoundError
from aidot.store._schema import metric_chunks, metric_series
from aidot.tracking._series import Downsample, decode_chunk

if TYPE_CHECKING:
    import sqlalchemy as sa


@dataclass(frozen=True)
class MetricHistory:
    """A metric's points in logging order, as NumPy arrays.

    When the series had more points than ``max_points`` asked for, it is a downsample:
    ``steps``, ``values`` and ``timestamps`` are the last point of each bucket, and ``mins`` /
    ``maxs`` the extremes within it, so spikes stay visible. Otherwise ``mins`` and ``maxs``
    are None.
    """

    key: str
    steps: npt.NDArray[np.int64]
    values: npt.NDArray[np.float64]
    timestamps: npt.NDArray[np.int64]
    mins: npt.NDArray[np.float64] | None = None
    maxs: npt.NDArray[np.float64] | None = None
    total_points: int = 0

    @property
    def downsampled(self) -> bool:
        """Whether this is a downsample of a longer series."""
        return self.mins is not None

    def __len__(self) -> int:
        return len(self.steps)


def read_history(
    conn: sa.Connection, run_id: str, key: str, max_points: int | None
) -> MetricHistory:
    """The series, whole or downsampled to at most ``max_points`` points."""
    import sqlalchemy as sa

    where = (metric_series.c.run_id == run_id) & (metric_series.c.key == key)
    series = conn.execute(
        sa.select(metric_series.c.points, metric_series.c.downsample).where(where)
    ).first()
    if series is None:
        raise NotFoundError(f"run {run_id} has no metric {key!r}")
    if max_points is not None and series.points > max_points:
        view = Downsample.decode(series.downsample).limit(max_points)
        return MetricHistory(
            key,
            view.last_steps,
            view.lasts,
            view.last_timestamps,
            view.mins,
            view.maxs,
            int(series.points),
        )
    chunks = conn.execute(
        sa.select(metric_chunks.c.data)
        .where((metric_chunks.c.run_id == run_id) & (metric_chunks.c.key == key))
        .order_by(metric_chunks.c.seq)
    ).scalars()
    parts = [decode_chunk(data) for data in chunks]
    if not parts:
        empty_i, empty_f = np.empty(0, np.int64), np.empty(0, np.float64)
        return MetricHistory(key, empty_i, empty_f, empty_i)
    return MetricHistory(
        key,
        np.concatenate([p[0] for p in parts]),
        np.concatenate([p[1] for p in parts]),
        np.concatenate([p[2] for p in parts]),
        total_points=int(series.points),
    )
