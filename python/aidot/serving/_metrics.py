"""Snapshots of a served model's performance metrics, as Python objects."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class LatencySummary:
    """Percentiles of a latency histogram (HDR, 3 significant digits), in milliseconds."""

    count: int = 0
    mean_ms: float = 0.0
    p50_ms: float = 0.0
    p95_ms: float = 0.0
    p99_ms: float = 0.0
    p999_ms: float = 0.0
    max_ms: float = 0.0


@dataclass(frozen=True)
class PerformanceMetrics:
    """Every metric of one served model at one moment.

    Latencies: ``end_to_end`` per request (arrival to reply), ``queue_wait`` per row and
    ``compute`` per model call. Rates are over the last 10 seconds. ``batch_utilization`` is
    the mean batch size over ``max_batch_size``; ``dispatch_reasons`` counts why batches were
    sent (``full``, ``delay_expired``, ``preferred_size``, ``queue_drained``).
    """

    uptime_s: float
    requests_total: int
    rows_total: int
    requests_per_second: float
    rows_per_second: float
    errors: dict[str, int]
    end_to_end: LatencySummary
    queue_wait: LatencySummary
    compute: LatencySummary
    batches_total: int
    batch_size_mean: float
    max_batch_size: int
    batch_utilization: float
    batch_size_distribution: dict[int, int] = field(default_factory=dict)
    dispatch_reasons: dict[str, int] = field(default_factory=dict)
    queue_depth: int = 0
    last_inference_ms: int = 0

    @classmethod
    def from_json(cls, text: str) -> PerformanceMetrics:
        data: dict[str, Any] = json.loads(text)
        for key in ("end_to_end", "queue_wait", "compute"):
            data[key] = LatencySummary(**data[key])
        data["batch_size_distribution"] = {
            int(size): count for size, count in data["batch_size_distribution"].items()
        }
        return cls(**data)

    @property
    def errors_total(self) -> int:
        return sum(self.errors.values())
