"""The grammar both search filters share (runs in tracking, models and versions in the
registry): comparisons ``KEY OP VALUE`` joined by ``and``. Each caller tokenizes its own keys
and checks what a key may be compared with; this splits the tokens into comparisons."""

from __future__ import annotations

from collections.abc import Callable

Token = tuple[str, str]
"""``(kind, text)``: kind is ``ident``, ``op``, ``string``, ``number`` or ``and``."""


def split_comparisons(
    tokens: list[Token], fail: Callable[[str], Exception], key_hint: str
) -> list[tuple[str, str, str, str]]:
    """``(key, OP, value kind, raw value)`` per comparison; ``fail(problem)`` makes the error
    raised for bad syntax, ``key_hint`` says what a key looks like."""
    comparisons = []
    i = 0
    while i < len(tokens):
        if len(tokens) - i < 3:
            raise fail(f"a comparison needs {key_hint} OP VALUE")
        (kind1, key), (kind2, op), (kind3, raw) = tokens[i : i + 3]
        if kind1 != "ident":
            raise fail(f"expected {key_hint}, got {key!r}")
        if kind2 != "op":
            raise fail(f"expected a comparison operator after {key}, got {op!r}")
        if kind3 not in ("string", "number"):
            raise fail(f"expected a number or a quoted string after {op}, got {raw!r}")
        comparisons.append((key, op.upper(), kind3, raw))
        i += 3
        if i < len(tokens):
            if tokens[i][0] != "and":
                raise fail(f"expected 'and' between comparisons, got {tokens[i][1]!r}")
            i += 1
            if i == len(tokens):
                raise fail("the filter ends with 'and'")
    return comparisons
