"""Turns database-driver errors into aidot errors at the store boundary."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from aidot.errors import AidotError, AlreadyExistsError, StorageError, StoreUnavailableError

# SQLite errors that go away by themselves: another process holding the write lock past the
# busy timeout, or a file system (NFS, a USB disk) that came and went.
_TRANSIENT_SQLITE = ("database is locked", "unable to open database file", "disk i/o error")


@contextmanager
def db_errors(action: str) -> Iterator[None]:
    """Re-raises SQLAlchemy errors raised inside the block as the closest aidot error."""
    import sqlalchemy.exc as sa_exc

    try:
        yield
    except AidotError:
        raise
    except sa_exc.IntegrityError as exc:
        raise AlreadyExistsError(f"cannot {action}: {exc.orig}") from exc
    except sa_exc.DBAPIError as exc:
        if is_unavailable(exc):
            raise StoreUnavailableError(
                f"cannot {action}: the database is unreachable ({_first_line(exc.orig)}); "
                "check that the server is up and reachable"
            ) from exc
        if "malformed" in str(exc.orig):
            raise StorageError(
                f"cannot {action}: the database file is damaged ({_first_line(exc.orig)}); "
                "`aidot verify` says where, and what to do"
            ) from exc
        raise StorageError(
            f"cannot {action}: the database failed ({_first_line(exc.orig)}); check that it is "
            "reachable and that the workspace folder is writable"
        ) from exc
    except sa_exc.SQLAlchemyError as exc:
        raise StorageError(f"cannot {action}: {exc}") from exc


def is_unavailable(exc: BaseException) -> bool:
    """Whether a driver error means "the database cannot be reached now" rather than "this
    statement is wrong": a lost or refused connection, or a SQLite lock or disk hiccup."""
    import sqlalchemy.exc as sa_exc

    if not isinstance(exc, sa_exc.DBAPIError):
        return False
    if exc.connection_invalidated or isinstance(exc, sa_exc.InterfaceError):
        return True
    if not isinstance(exc, sa_exc.OperationalError):
        return False
    module = type(exc.orig).__module__
    if module.startswith("psycopg"):
        # psycopg raises OperationalError for connection failures, admin shutdowns and
        # cancelled statements: all worth retrying, none a mistake in the statement.
        return True
    return any(text in str(exc.orig).lower() for text in _TRANSIENT_SQLITE)


def _first_line(error: object) -> str:
    return str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
