"""Serving: models in memory, batched in Rust, behind an HTTP server started from Python.

- :class:`ModelRepository` holds the served models (from the registry or as objects), with
  hot swap and ``follow="Production"``;
- :func:`serve` / :class:`Server` start the Rust (axum) inference server;
- :class:`RequestBatcher` and :func:`batch` batch calls in-process;
- :class:`PerformanceMetrics` are the HDR latency percentiles, throughput and batching numbers.
"""

from __future__ import annotations

from aidot.serving._batch import RequestBatcher, batch
from aidot.serving._metrics import LatencySummary, PerformanceMetrics
from aidot.serving._repository import BatchingSettings, ModelInfo, ModelRepository
from aidot.serving._server import Server, serve

__all__ = [
    "BatchingSettings",
    "LatencySummary",
    "ModelInfo",
    "ModelRepository",
    "PerformanceMetrics",
    "RequestBatcher",
    "Server",
    "batch",
    "serve",
]
