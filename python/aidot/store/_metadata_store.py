"""The metadata store: one SQL database (a SQLite file or PostgreSQL) shared by every component."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Protocol

from aidot._ids import new_id, now_ms
from aidot.store._engine import create_engine, masked_uri, normalize_uri, sqlite_execute
from aidot.store._errors import db_errors
from aidot.store._migrate import ensure_schema
from aidot.store._schema import blob_refs, workspace_info

if TYPE_CHECKING:
    import sqlalchemy as sa


def insert_blob_refs(conn: sa.Connection, owner: str, digests: Iterable[str]) -> int:
    """Records, inside the caller's transaction, that ``owner`` uses these blobs; returns how
    many references were new."""
    import json

    import sqlalchemy as sa

    wanted = set(digests)
    if not wanted:
        return 0
    have = set(
        conn.execute(sa.select(blob_refs.c.digest).where(blob_refs.c.owner == owner)).scalars()
    )
    new = sorted(wanted - have)
    if not new:
        return 0
    # One statement with the digests as one parameter (a JSON array on SQLite, an array on
    # PostgreSQL) rather than a row each: half the time for a 50,000-file dataset.
    insert = f"INSERT INTO {blob_refs.name} (owner, digest, created_at) "
    if conn.dialect.name == "sqlite":
        run_sql(
            conn,
            insert + "SELECT ?, value, ? FROM json_each(?)",
            (owner, now_ms(), json.dumps(new)),
        )
    else:
        run_sql(conn, insert + "SELECT ?, unnest(?::text[]), ?", (owner, new, now_ms()))
    return len(new)


def insert_and_lock(conn: sa.Connection, table: sa.Table, row: dict[str, object]) -> None:
    """Makes sure ``row`` (its primary key, at least) exists in ``table`` and holds it locked
    until the caller's transaction ends: an insert that skips an existing row (so writers
    creating the same parent at once do not collide on its key), then ``SELECT ... FOR
    UPDATE`` on PostgreSQL, where concurrent writers then take turns; SQLite's write
    transactions are serial already."""
    import sqlalchemy as sa

    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects import postgresql

        conn.execute(postgresql.insert(table).on_conflict_do_nothing(), [row])
    else:
        from sqlalchemy.dialects import sqlite

        conn.execute(sqlite.insert(table).on_conflict_do_nothing(), [row])
    key = [column == row[column.name] for column in table.primary_key.columns]
    conn.execute(sa.select(*table.primary_key.columns).where(*key).with_for_update())


def latest_number(
    conn: sa.Connection, number: sa.Column[int], key: sa.Column[str], value: str
) -> int:
    """The highest ``number`` among rows whose ``key`` is ``value`` (a dataset's or a model's
    latest version), 0 when there are none. Inside a write transaction that holds the parent row
    locked, ``+ 1`` is the next number no other writer can take."""
    import sqlalchemy as sa

    return int(conn.execute(sa.select(sa.func.max(number)).where(key == value)).scalar() or 0)


class Rows(Protocol):
    """What :func:`run_sql` returns: a driver cursor (SQLite) or SQLAlchemy's result
    (PostgreSQL). Rows are tuples; read them by position."""

    @property
    def rowcount(self) -> int: ...

    def fetchone(self) -> Any: ...

    def fetchall(self) -> Sequence[Any]: ...

    def __iter__(self) -> Iterator[Any]: ...


def run_sql(
    conn: sa.Connection, sql: str, params: Sequence[object] | Sequence[Sequence[object]] = ()
) -> Rows:
    """Runs ``sql`` (``?`` placeholders) through the driver, past SQLAlchemy's statement
    compilation: for a tuning trial's few statements that compilation cost more CPU than the
    database's work (about 0.2 ms a statement). A list of tuples is an ``executemany``.
    On SQLite it also skips SQLAlchemy's execution path (:func:`sqlite_execute`)."""
    many = isinstance(params, list) and bool(params) and isinstance(params[0], tuple | list)
    if conn.dialect.name == "sqlite":
        return sqlite_execute(conn, sql, params, many=many)
    return conn.exec_driver_sql(sql.replace("?", "%s"), params)


def bulk_insert(conn: sa.Connection, table: sa.Table, rows: Sequence[tuple[object, ...]]) -> None:
    """Inserts rows (values for every column, in table order) with the driver's own
    ``executemany``: for 50,000 rows SQLAlchemy's per-row parameter handling cost more than
    the database's work."""
    columns = ", ".join(c.name for c in table.columns)
    values = ", ".join(["?"] * len(table.columns))
    run_sql(conn, f"INSERT INTO {table.name} ({columns}) VALUES ({values})", rows)


class MetadataStore:
    """An open metadata database at the current schema.

    Opening applies any pending Alembic migration (once, even with several processes opening
    at the same time) and refuses a database written by a newer aidot with
    :class:`~aidot.errors.SchemaVersionError`. Components run their statements in
    :meth:`write` and :meth:`read` transactions.
    """

    def __init__(self, uri: str) -> None:
        self.uri = uri
        self.engine: sa.Engine = create_engine(uri)
        try:
            with db_errors(f"open the metadata database {self.display_uri}"):
                self.revision = ensure_schema(self.engine, self.display_uri)
                self.workspace_id = self._ensure_identity()
                """The id this database got when it was created (stable across URIs)."""
        except BaseException:
            self.engine.dispose()
            raise

    @property
    def dialect(self) -> str:
        """``"sqlite"`` or ``"postgresql"``."""
        return self.engine.dialect.name

    @property
    def display_uri(self) -> str:
        """The URI with any password masked, for messages."""
        return masked_uri(normalize_uri(self.uri))

    @contextmanager
    def write(self) -> Iterator[sa.Connection]:
        """A read-write transaction, committed when the block ends without an exception."""
        with db_errors("write to the metadata database"), self.engine.begin() as conn:
            yield conn

    @contextmanager
    def read(self) -> Iterator[sa.Connection]:
        """A read-only transaction (it does not wait for writers on SQLite)."""
        options = self.engine.execution_options(aidot_readonly=True)
        with db_errors("read the metadata database"), options.begin() as conn:
            yield conn

    def info(self) -> dict[str, str]:
        """Facts about the workspace: ``workspace_id``, ``created_at`` (ms) and more."""
        with self.read() as conn:
            rows = conn.execute(workspace_info.select()).all()
        return {row.key: row.value for row in rows}

    def add_blob_refs(self, owner: str, digests: Iterable[str]) -> int:
        """Records that ``owner`` uses these blobs (kept by blob garbage collection); returns
        how many references were new."""

        with self.write() as conn:
            return insert_blob_refs(conn, owner, digests)

    def remove_blob_refs(self, owner: str) -> int:
        """Forgets every blob reference of ``owner``; returns how many there were."""
        with self.write() as conn:
            return conn.execute(blob_refs.delete().where(blob_refs.c.owner == owner)).rowcount

    def blob_refs(self, owner: str) -> set[str]:
        """The digests ``owner`` uses."""
        import sqlalchemy as sa

        with self.read() as conn:
            query = sa.select(blob_refs.c.digest).where(blob_refs.c.owner == owner)
            return set(conn.execute(query).scalars())

    def live_digests(self) -> set[str]:
        """Every digest some owner uses: what blob garbage collection must keep."""
        import sqlalchemy as sa

        with self.read() as conn:
            return set(conn.execute(sa.select(blob_refs.c.digest).distinct()).scalars())

    def blob_references(self) -> list[tuple[str, str]]:
        """Every ``(owner, digest)`` reference, sorted: what ``verify`` checks resolves."""
        import sqlalchemy as sa

        with self.read() as conn:
            query = sa.select(blob_refs.c.owner, blob_refs.c.digest).order_by(
                blob_refs.c.owner, blob_refs.c.digest
            )
            return [(owner, digest) for owner, digest in conn.execute(query)]

    def check_integrity(self) -> list[str]:
        """What the database engine finds wrong with its own file (SQLite's ``quick_check``:
        damaged pages, broken indexes); empty when it is sound. PostgreSQL checks its pages
        itself as it reads them, so there is nothing to ask it here."""
        if self.dialect != "sqlite":
            return []
        with db_errors("check the metadata database"), self.engine.connect() as conn:
            rows = [str(r[0]) for r in conn.exec_driver_sql("PRAGMA quick_check").fetchall()]
        if rows == ["ok"]:
            return []
        return [line for row in rows for line in row.splitlines() if line.strip()]

    def close(self) -> None:
        """Closes every pooled connection."""
        self.engine.dispose()

    def _ensure_identity(self) -> str:
        import sqlalchemy as sa

        from aidot import __version__

        query = sa.select(workspace_info.c.value).where(workspace_info.c.key == "workspace_id")
        with self.engine.begin() as conn:
            existing = conn.execute(query).scalar()
            if existing is not None:
                return str(existing)
            values = {
                "workspace_id": new_id(),
                "created_at": str(now_ms()),
                "created_by": f"aidot {__version__}",
            }
            rows = [{"key": k, "value": v} for k, v in values.items()]
            if conn.dialect.name == "postgresql":
                from sqlalchemy.dialects import postgresql

                conn.execute(postgresql.insert(workspace_info).on_conflict_do_nothing(), rows)
            else:
                from sqlalchemy.dialects import sqlite

                conn.execute(sqlite.insert(workspace_info).on_conflict_do_nothing(), rows)
            return str(conn.execute(query).scalar_one())
