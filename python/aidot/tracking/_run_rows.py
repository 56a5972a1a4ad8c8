"""Reading runs back: their rows with params, tags and the latest value of each metric, for
one run or a page of search results, and that page as a pandas DataFrame."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aidot.errors import InvalidArgumentError
from aidot.store._schema import metric_series, params, runs, tags

if TYPE_CHECKING:
    import sqlalchemy as sa

    from aidot.tracking._tracker import RunInfo

RunFields = dict[str, dict[str, Any]]
"""A run's ``{"params": {...}, "tags": {...}, "metrics": {...}}``."""


def load_runs(conn: sa.Connection, ids: list[str]) -> tuple[dict[str, Any], dict[str, RunFields]]:
    """The rows of the runs ``ids`` (an id with no run is absent) and, for each id, its
    params, tags and latest metric values (NaN for a metric whose last value was NaN); one
    query per table."""
    import sqlalchemy as sa

    rows = {r.id: r for r in conn.execute(sa.select(runs).where(runs.c.id.in_(ids)))}
    fields: dict[str, RunFields] = {
        run_id: {"params": {}, "tags": {}, "metrics": {}} for run_id in ids
    }
    for table, name in ((params, "params"), (tags, "tags")):
        query = sa.select(table.c.run_id, table.c.key, table.c.value).where(table.c.run_id.in_(ids))
        for run_id, key, value in conn.execute(query):
            fields[run_id][name][key] = value
    metric_query = sa.select(
        metric_series.c.run_id, metric_series.c.key, metric_series.c.last_value
    ).where(metric_series.c.run_id.in_(ids))
    for run_id, key, value in conn.execute(metric_query):
        fields[run_id]["metrics"][key] = float("nan") if value is None else float(value)
    return rows, fields


def runs_frame(infos: list[RunInfo]) -> Any:
    """Runs as a pandas DataFrame with ``params.*``, ``metrics.*`` and ``tags.*`` columns,
    as MLflow's ``search_runs`` returns them (needs pandas)."""
    try:
        import pandas as pd
    except ImportError:
        raise InvalidArgumentError(
            "search_runs_df needs pandas: pip install pandas (or use search_runs)"
        ) from None
    records = []
    for info in infos:
        record: dict[str, Any] = {
            "run_id": info.id,
            "experiment_id": info.experiment_id,
            "run_name": info.name,
            "status": info.status.value,
            "start_time": pd.to_datetime(info.start_time, unit="ms", utc=True),
            "end_time": pd.to_datetime(info.end_time, unit="ms", utc=True)
            if info.end_time
            else None,
            "parent_id": info.parent_id,
        }
        record.update({f"metrics.{k}": v for k, v in info.metrics.items()})
        record.update({f"params.{k}": v for k, v in info.params.items()})
        record.update({f"tags.{k}": v for k, v in info.tags.items()})
        records.append(record)
    return pd.DataFrame.from_records(records)
