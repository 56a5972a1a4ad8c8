"""Time-sortable identifiers and millisecond timestamps."""

from __future__ import annotations

import datetime
import os
import time

# Crockford's base32, as in ULIDs: no I, L, O or U, so ids read aloud unambiguously.
_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"


def now_ms() -> int:
    """Milliseconds since the Unix epoch, UTC."""
    return time.time_ns() // 1_000_000


def utc_datetime(ms: int) -> datetime.datetime:
    """A timestamp in milliseconds since the epoch as an aware UTC datetime."""
    return datetime.datetime.fromtimestamp(ms / 1000, tz=datetime.timezone.utc)


def new_id() -> str:
    """A 26-character id that sorts by creation time (48 bits of milliseconds, 80 random bits)."""
    value = (now_ms() << 80) | int.from_bytes(os.urandom(10), "big")
    chars = []
    for _ in range(26):
        chars.append(_ALPHABET[value & 31])
        value >>= 5
    return "".join(reversed(chars))
