"""Brings a database to this aidot's schema with Alembic, once, even under concurrency."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aidot.errors import SchemaVersionError
from aidot.store._schema import HEAD, REVISIONS, VERSION_TABLE

if TYPE_CHECKING:
    import sqlalchemy as sa

# Any constant works; it only has to be the same for every aidot process.
_PG_MIGRATION_LOCK = 0x41_49_44_4F_54  # "AIDOT"


def current_revision(conn: sa.Connection) -> str | None:
    """The schema revision recorded in the database, or None for a database aidot never used."""
    import sqlalchemy as sa

    if not sa.inspect(conn).has_table(VERSION_TABLE):
        return None
    return conn.execute(sa.text(f"SELECT version_num FROM {VERSION_TABLE}")).scalar()


def check_known(revision: str | None, where: str) -> None:
    """Refuses a database written by a newer aidot rather than misreading it."""
    if revision is not None and revision not in REVISIONS:
        raise SchemaVersionError(
            f"the metadata database {where} has schema revision {revision!r}, newer than this "
            f"aidot knows (up to {HEAD!r}); upgrade aidot (pip install -U aidot) to open it"
        )


def ensure_schema(engine: sa.Engine, where: str) -> str:
    """Upgrades the database to :data:`HEAD` if needed and returns the revision.

    The common case, a database already at head, costs one query and no Alembic import.
    Otherwise the upgrade runs in one transaction holding the database's write lock (SQLite's
    ``BEGIN IMMEDIATE``, a PostgreSQL advisory lock), so concurrent openers migrate once.
    """
    with engine.connect() as conn:
        revision = current_revision(conn)
    check_known(revision, where)
    if revision == HEAD:
        return HEAD

    import sqlalchemy as sa
    from alembic import command
    from alembic.config import Config

    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_MIGRATION_LOCK})
        # Re-read under the lock: another process may have migrated meanwhile.
        revision = current_revision(conn)
        check_known(revision, where)
        if revision != HEAD:
            config = Config()
            config.set_main_option("script_location", "aidot.store:migrations")
            config.attributes["connection"] = conn
            command.upgrade(config, "head")
    return HEAD
