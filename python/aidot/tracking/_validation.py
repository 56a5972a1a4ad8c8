"""Checks on what users log, with errors that say how to fix it."""

from __future__ import annotations

import math
import re

from aidot.errors import InvalidArgumentError

MAX_KEY_LENGTH = 250
_KEY = re.compile(r"[A-Za-z0-9_.\-/ ]+")


def check_key(key: object, what: str = "key") -> str:
    """Returns ``key`` if it is a valid param, metric or tag name."""
    if not isinstance(key, str) or not key:
        raise InvalidArgumentError(f"{what} must be a non-empty string, got {key!r}")
    if len(key) > MAX_KEY_LENGTH:
        raise InvalidArgumentError(
            f"{what} {key[:40]!r}... is {len(key)} characters long; the limit is {MAX_KEY_LENGTH}"
        )
    if not _KEY.fullmatch(key):
        raise InvalidArgumentError(
            f"{what} {key!r} has characters outside letters, digits, '_', '.', '-', '/' and "
            "spaces; rename it"
        )
    return key


def check_value(key: str, value: object) -> float:
    """A metric value as a float (NaN and infinities included)."""
    if isinstance(value, (str, bytes)):
        raise InvalidArgumentError(f"metric {key!r} must be a number, got {value!r}")
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise InvalidArgumentError(
            f"metric {key!r} must be a number, got {type(value).__name__} {value!r}"
        ) from None
    return number if not math.isnan(number) else math.nan
