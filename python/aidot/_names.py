"""The one rule for names users give things (datasets, models, tags, aliases): a letter or
digit first, then letters, digits, ``_``, ``.`` and ``-``, at most 255 characters, so a name is
safe in a URI, a path and a SQL column alike."""

from __future__ import annotations

import re

from aidot.errors import InvalidArgumentError

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,254}")


def check_name(value: str, what: str) -> str:
    """``value`` if it is a valid name; else an error calling it ``what``."""
    if not isinstance(value, str) or not _NAME.fullmatch(value):
        raise InvalidArgumentError(
            f"{what} {value!r} must start with a letter or digit and use only letters, digits, "
            "'_', '.' and '-' (at most 255 characters)"
        )
    return value
