"""Turns database-driver errors into aidot errors at the store boundary."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from aidot.errors import AidotError, AlreadyExistsError, StorageError


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
    except sa_exc.OperationalError as exc:
        raise StorageError(
            f"cannot {action}: the database failed ({exc.orig}); check that it is reachable "
            "and that the workspace folder is writable"
        ) from exc
    except sa_exc.SQLAlchemyError as exc:
        raise StorageError(f"cannot {action}: {exc}") from exc
