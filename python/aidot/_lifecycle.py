"""``with`` support for aidot's long-lived objects: leaving the block ends the object,
whatever happened inside it. Servers stop; stores, repositories and managers close."""

from __future__ import annotations

from typing import Protocol, TypeVar

_T = TypeVar("_T")


class _Stoppable(Protocol):
    def stop(self) -> None: ...


class _Closable(Protocol):
    def close(self) -> None: ...


class StopsOnExit:
    """Mixin: ``with obj:`` returns ``obj`` and calls ``obj.stop()`` on the way out."""

    def __enter__(self: _T) -> _T:
        return self

    def __exit__(self: _Stoppable, *exc_info: object) -> None:
        self.stop()


class ClosesOnExit:
    """Mixin: ``with obj:`` returns ``obj`` and calls ``obj.close()`` on the way out."""

    def __enter__(self: _T) -> _T:
        return self

    def __exit__(self: _Closable, *exc_info: object) -> None:
        self.close()
