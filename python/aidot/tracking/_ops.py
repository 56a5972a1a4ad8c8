"""What a run records besides metric points, as statements on one connection.

The tracker applies an :class:`Op` at once; while the store is unreachable the metric writer
spools it with the points and applies it on reconnection. Both paths run these functions.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, NamedTuple

from aidot._ids import now_ms
from aidot.errors import InvalidArgumentError
from aidot.store._metadata_store import insert_blob_refs, run_sql
from aidot.store._schema import params, run_artifacts, runs, tags

if TYPE_CHECKING:
    import sqlalchemy as sa

_log = logging.getLogger("aidot.tracking")


class Op(NamedTuple):
    """One recorded change: ``kind`` is ``params``, ``tags``, ``artifacts``, ``input`` (a
    dataset version the run used) or ``end``."""

    kind: str
    run_id: str
    data: Any
    """JSON-serialisable: a ``{key: value}`` dict for params and tags, ``[[path, digest,
    size], ...]`` for artifacts, ``[status, end_time]`` for the end of a run."""


def apply(conn: sa.Connection, op: Op, *, replay: bool = False) -> None:
    """Runs ``op``. A param that conflicts with a stored value raises, or, when replaying a
    spooled op (nobody left to tell), is skipped with a logged warning."""
    if op.kind == "params":
        _insert_params(conn, op.run_id, op.data, replay=replay)
    elif op.kind == "tags":
        _upsert_tags(conn, op.run_id, op.data)
    elif op.kind == "artifacts":
        _record_artifacts(conn, op.run_id, op.data)
    elif op.kind == "input":
        _record_input(conn, op.run_id, op.data)
    elif op.kind == "end":
        status, end_time = op.data
        conn.execute(
            runs.update()
            .where(runs.c.id == op.run_id)
            .values(status=status, end_time=end_time, heartbeat_at=end_time)
        )
    else:
        raise ValueError(f"unknown run operation {op.kind!r}")


def stored_key_values(conn: sa.Connection, table: sa.Table, run_id: str) -> dict[str, str]:
    """A run's params or tags."""
    import sqlalchemy as sa

    query = sa.select(table.c.key, table.c.value).where(table.c.run_id == run_id)
    return {str(key): str(value) for key, value in conn.execute(query)}


def param_conflict(run_id: str, key: str, have: str, got: str) -> InvalidArgumentError:
    return InvalidArgumentError(
        f"param {key!r} of run {run_id} is already {have!r}; params do not change "
        f"(got {got!r}): use a tag, or start a new run"
    )


def _insert_params(
    conn: sa.Connection, run_id: str, values: dict[str, str], *, replay: bool
) -> None:
    import sqlalchemy as sa

    have = stored_key_values(conn, params, run_id)
    for key, value in values.items():
        if key in have and have[key] != value:
            if not replay:
                raise param_conflict(run_id, key, have[key], value)
            _log.warning(
                "param %r of run %s: keeping the stored %r, dropping %r logged while the "
                "store was unreachable",
                key,
                run_id,
                have[key],
                value,
            )
    new = [{"run_id": run_id, "key": k, "value": v} for k, v in values.items() if k not in have]
    if new:
        conn.execute(sa.insert(params), new)


def _upsert_tags(conn: sa.Connection, run_id: str, values: dict[str, str]) -> None:
    if not values:
        return
    # One statement on both databases (INSERT ... ON CONFLICT DO UPDATE), not delete + insert.
    run_sql(
        conn,
        f"INSERT INTO {tags.name} (run_id, key, value) VALUES (?, ?, ?) "
        "ON CONFLICT (run_id, key) DO UPDATE SET value = excluded.value",
        [(run_id, k, v) for k, v in values.items()],
    )


def _record_artifacts(conn: sa.Connection, run_id: str, items: list[list[Any]]) -> None:
    now = now_ms()
    paths = [str(path) for path, _, _ in items]
    conn.execute(
        run_artifacts.delete().where(
            run_artifacts.c.run_id == run_id, run_artifacts.c.path.in_(paths)
        )
    )
    conn.execute(
        run_artifacts.insert(),
        [
            {"run_id": run_id, "path": path, "digest": digest, "size": size, "created_at": now}
            for path, digest, size in items
        ],
    )
    insert_blob_refs(conn, f"run:{run_id}", (digest for _, digest, _ in items))


def _record_input(conn: sa.Connection, run_id: str, version_id: str) -> None:
    import sqlalchemy as sa

    from aidot.store._schema import run_inputs

    where = (run_inputs.c.run_id == run_id) & (run_inputs.c.version_id == version_id)
    if conn.execute(sa.select(run_inputs.c.run_id).where(where)).first() is None:
        conn.execute(
            run_inputs.insert(),
            [{"run_id": run_id, "version_id": version_id, "created_at": now_ms()}],
        )
