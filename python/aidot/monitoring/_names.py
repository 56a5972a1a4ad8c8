"""Metric names from what frameworks call their evaluation results."""

from __future__ import annotations

import re

_NOT_ALLOWED = re.compile(r"[^A-Za-z0-9_.\-/ ]")


def eval_metric_name(dataset: str, metric: str) -> str:
    """``valid_0-l2`` from LightGBM's ``("valid_0", "l2")``, XGBoost's ``("eval", "rmse")``
    likewise; characters aidot does not allow in keys (``ndcg@5``) become ``_``."""
    return _NOT_ALLOWED.sub("_", f"{dataset}-{metric}")
