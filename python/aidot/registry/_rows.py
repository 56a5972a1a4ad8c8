"""Row-level helpers of the registry tables: stages, the history, aliases, conversions."""

from __future__ import annotations

import builtins
import getpass
import json
import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from aidot._ids import new_id, now_ms
from aidot.registry._types import ModelVersion, RegisteredModel

if TYPE_CHECKING:
    import sqlalchemy as sa


def latest_in(conn: sa.Connection, name: str, stage: str) -> int | None:
    """The version that entered ``stage`` most recently (by its last update), if any."""
    import sqlalchemy as sa

    from aidot.store._schema import model_versions

    return conn.execute(
        sa.select(model_versions.c.version)
        .where(model_versions.c.name == name, model_versions.c.stage == stage)
        .order_by(model_versions.c.updated_at.desc(), model_versions.c.version.desc())
        .limit(1)
    ).scalar()


def set_stage(conn: sa.Connection, name: str, version: int, stage: str, now: int) -> None:
    from aidot.store._schema import model_versions

    conn.execute(
        model_versions.update()
        .where(model_versions.c.name == name, model_versions.c.version == version)
        .values(stage=stage, updated_at=now)
    )


def record(  # noqa: PLR0917 - one positional per column of the history row
    conn: sa.Connection,
    name: str,
    version: int,
    event: str,
    target: str,
    previous: str | None,
    comment: str,
) -> None:
    from aidot.store._schema import model_history

    conn.execute(
        model_history.insert(),
        [
            {
                "id": new_id(),
                "name": name,
                "version": version,
                "event": event,
                "target": target,
                "previous": previous,
                "actor": actor(),
                "comment": comment,
                "at": now_ms(),
            }
        ],
    )


def actor() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return f"uid {os.getuid()}" if hasattr(os, "getuid") else "unknown"


def aliases_of(conn: sa.Connection, name: str) -> dict[int, builtins.list[str]]:
    import sqlalchemy as sa

    from aidot.store._schema import model_aliases

    out: dict[int, list[str]] = {}
    query = (
        sa.select(model_aliases.c.version, model_aliases.c.alias)
        .where(model_aliases.c.name == name)
        .order_by(model_aliases.c.alias)
    )
    for version, alias in conn.execute(query):
        out.setdefault(int(version), []).append(alias)
    return out


def all_aliases(conn: sa.Connection) -> dict[tuple[str, int], builtins.list[str]]:
    """Every alias, by (model, version)."""
    import sqlalchemy as sa

    from aidot.store._schema import model_aliases

    out: dict[tuple[str, int], list[str]] = {}
    query = sa.select(
        model_aliases.c.name, model_aliases.c.version, model_aliases.c.alias
    ).order_by(model_aliases.c.alias)
    for name, version, alias in conn.execute(query):
        out.setdefault((name, int(version)), []).append(alias)
    return out


def tags_json(tags: Mapping[str, Any] | None) -> str:
    return json.dumps({str(k): str(v) for k, v in (tags or {}).items()}, sort_keys=True)


def to_model(row: Any, latest: int) -> RegisteredModel:
    return RegisteredModel(row.name, row.description, json.loads(row.tags), row.created_at, latest)


def to_version(row: Any, aliases: builtins.list[str]) -> ModelVersion:
    return ModelVersion(
        name=row.name,
        version=row.version,
        id=row.id,
        stage=row.stage,
        source=json.loads(row.source),
        run_id=row.run_id,
        lineage=json.loads(row.lineage),
        signature=json.loads(row.signature) if row.signature else None,
        metrics=json.loads(row.metrics),
        description=row.description,
        tags=json.loads(row.tags),
        created_at=row.created_at,
        aliases=aliases,
    )
