"""SQLAlchemy engines for the metadata store: a SQLite file or a PostgreSQL server."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from aidot.errors import InvalidArgumentError

if TYPE_CHECKING:
    import sqlite3

    import sqlalchemy as sa

SQLITE_BUSY_TIMEOUT_S = 30.0
"""How long a SQLite writer waits for another process's transaction before failing."""


def masked_uri(uri: str) -> str:
    """``uri`` with any password shown as ``***``, for messages and pages."""
    import sqlalchemy as sa

    return sa.make_url(uri).render_as_string(hide_password=True)


def normalize_uri(uri: str) -> str:
    """Picks the driver aidot ships with: psycopg 3 for PostgreSQL, pysqlite for SQLite."""
    scheme, sep, rest = uri.partition("://")
    if not sep:
        raise InvalidArgumentError(
            f"database URI {uri!r} has no scheme; use sqlite:///PATH or postgresql://USER@HOST/DB"
        )
    if scheme in ("postgresql", "postgres"):
        return f"postgresql+psycopg://{rest}"
    if scheme in ("postgresql+psycopg", "sqlite", "sqlite+pysqlite"):
        return uri
    raise InvalidArgumentError(
        f"unsupported database {scheme!r} in {uri!r}; aidot speaks sqlite:// and postgresql://"
    )


def create_engine(uri: str) -> sa.Engine:
    """An engine with aidot's settings: WAL, a busy timeout and immediate write transactions
    on SQLite; pre-pinged pooled connections on PostgreSQL."""
    import sqlalchemy as sa

    url = normalize_uri(uri)
    if url.startswith("sqlite"):
        engine = sa.create_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_S})
        _configure_sqlite(engine)
        return engine
    try:
        import psycopg  # noqa: F401
    except ImportError:
        raise InvalidArgumentError(
            "PostgreSQL needs the psycopg driver: pip install 'aidot[postgres]'"
        ) from None
    # libpq waits forever by default for a server that dropped off the network; bounded
    # waits let the metric writer notice, spool and retry (the URI can override any of them).
    query = sa.make_url(url).query
    connect_args = {k: v for k, v in _POSTGRES_CONNECT_ARGS.items() if k not in query}
    return sa.create_engine(url, pool_pre_ping=True, connect_args=connect_args)


_POSTGRES_CONNECT_ARGS = {
    "connect_timeout": 10,
    "keepalives": 1,
    "keepalives_idle": 10,
    "keepalives_interval": 5,
    "keepalives_count": 3,
}


def _configure_sqlite(engine: sa.Engine) -> None:
    import sqlalchemy as sa

    @sa.event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event below emit BEGIN, so that DDL is transactional too.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={int(SQLITE_BUSY_TIMEOUT_S * 1000)}")
        # FULL: a committed transaction survives a power cut, not only a crash of the process.
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @sa.event.listens_for(engine, "begin")
    def _on_begin(conn: sa.Connection) -> None:
        # IMMEDIATE takes the write lock up front: a writer waits its turn (busy timeout)
        # instead of failing when two transactions both try to upgrade a read lock.
        readonly = conn.get_execution_options().get("aidot_readonly", False)
        sqlite_execute(conn, "BEGIN" if readonly else "BEGIN IMMEDIATE")


def sqlite_execute(
    conn: sa.Connection,
    sql: str,
    params: Sequence[object] | Sequence[Sequence[object]] = (),
    *,
    many: bool = False,
) -> sqlite3.Cursor:
    """Runs ``sql`` on the sqlite3 connection under ``conn``, inside its transaction.

    SQLAlchemy's execution path costs about 30 us a statement over the driver's 2 us: for a
    tuning trial's dozen statements and two transactions that was a tenth of its CPU time.
    Driver errors come out as SQLAlchemy's (``IntegrityError``, ``OperationalError``...), so
    the store's error mapping sees no difference.
    """
    import sqlalchemy.exc as sa_exc

    driver = conn.connection.driver_connection
    dbapi = conn.dialect.loaded_dbapi
    try:
        if many:
            return driver.executemany(sql, params)  # type: ignore[union-attr, no-any-return]
        return driver.execute(sql, params)  # type: ignore[union-attr, no-any-return]
    except dbapi.Error as exc:
        raise sa_exc.DBAPIError.instance(
            sql, params, exc, dbapi.Error, dialect=conn.dialect
        ) from exc
