"""Searching models and versions with MLflow's registry filter syntax.

A filter is comparisons joined by ``and``: ``KEY OP VALUE``, where KEY is an attribute (``name``,
``description``; for versions also ``version``, ``stage``, ``run_id``, ``format``, ``alias``) or
``tags.KEY`` / ``metrics.KEY`` (versions), OP one of ``= != < <= > >= LIKE ILIKE``, and VALUE a
number or a quoted string: ``name LIKE 'churn%' and metrics.auc > 0.9``. ``LIKE`` uses SQL
wildcards (``%`` any run, ``_`` one character); ``alias = 'champion'`` matches a version that
carries that alias. Filters are evaluated on the registry's rows in Python: a registry holds
thousands of versions, not millions, and tags and metrics are JSON.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from aidot._filters import split_comparisons
from aidot.errors import InvalidFilterError
from aidot.registry._types import ModelVersion, RegisteredModel

Item = TypeVar("Item", RegisteredModel, ModelVersion)

_TOKEN = re.compile(
    r"""\s*(?:
        (?P<key>(?:tags|tag|metrics|metric)\.(?:`[^`]+`|"[^"]+"|[A-Za-z0-9_\-/.]+?)(?=\s|[<>=!]|$)
            |[A-Za-z_]+(?=\s|[<>=!]|$))
      | (?P<op>!=|<=|>=|=|<|>|\bLIKE\b|\bILIKE\b)
      | (?P<string>'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")
      | (?P<number>[-+]?(?:\d+\.?\d*(?:[eE][-+]?\d+)?|\.\d+(?:[eE][-+]?\d+)?))
    )""",
    re.VERBOSE | re.IGNORECASE,
)
MODEL_ATTRIBUTES = ("name", "description")
VERSION_ATTRIBUTES = (*MODEL_ATTRIBUTES, "version", "stage", "run_id", "format", "alias")
_NUMERIC = {"version"}
EXAMPLE = "name LIKE 'churn%' and tags.team = 'growth' and metrics.auc > 0.9"


@dataclass(frozen=True)
class Clause:
    key: str
    """An attribute, ``tags.X`` or ``metrics.X``."""
    op: str
    value: str | float

    def matches(self, actual: Any) -> bool:
        if isinstance(actual, list):  # aliases: any of them
            return any(self.matches(item) for item in actual)
        if actual is None:
            return self.op == "!="
        if self.op in ("LIKE", "ILIKE"):
            flags = re.IGNORECASE if self.op == "ILIKE" else 0
            return re.fullmatch(_like_pattern(str(self.value)), str(actual), flags) is not None
        if isinstance(self.value, float):
            try:
                number = float(actual)
            except (TypeError, ValueError):
                return False
            return _COMPARE[self.op](number, self.value)
        return _COMPARE[self.op](str(actual), self.value)


_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "=": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
}


def parse(text: str | None, attributes: tuple[str, ...]) -> list[Clause]:
    """The clauses of ``text``; raises :class:`InvalidFilterError` naming what is wrong."""
    if text is None or not text.strip():
        return []
    comparisons = split_comparisons(
        _tokenize(text),
        lambda problem: _error(text, problem),
        "an attribute, tags.KEY or metrics.KEY",
    )
    return [
        _clause(text, key, op, kind, raw, attributes=attributes)
        for key, op, kind, raw in comparisons
    ]


def select(
    items: Sequence[Item],
    clauses: list[Clause],
    order: list[tuple[str, bool]],
    max_results: int,
) -> list[Item]:
    """The items every clause holds for, ordered by ``order`` (stable: ties keep the items'
    order; items without a value for a key come last either way), at most ``max_results``."""
    found = [item for item in items if all(c.matches(field(item, c.key)) for c in clauses)]
    for key, ascending in reversed(order):  # stable sorts, last key first
        present = [item for item in found if field(item, key) is not None]
        missing = [item for item in found if field(item, key) is None]
        present.sort(key=functools.partial(_sort_value, key=key), reverse=not ascending)
        found = present + missing
    return found[:max_results]


def field(item: RegisteredModel | ModelVersion, key: str) -> Any:
    """The value a search key names on a model or a version."""
    if key.startswith("tags."):
        return item.tags.get(key[5:])
    if key.startswith("metrics."):
        return item.metrics.get(key[8:]) if isinstance(item, ModelVersion) else None
    if isinstance(item, ModelVersion):
        if key == "format":
            return item.source.get("format")
        if key == "alias":
            return item.aliases
    return getattr(item, key, None)


def _sort_value(item: RegisteredModel | ModelVersion, key: str) -> Any:
    value = field(item, key)
    return ",".join(value) if isinstance(value, list) else value


def parse_order_by(items: list[str] | None, attributes: tuple[str, ...]) -> list[tuple[str, bool]]:
    """``(key, ascending)`` per ``"KEY [ASC|DESC]"`` item."""
    result = []
    for item in items or []:
        target, _, direction = item.strip().partition(" ")
        direction = direction.strip().upper() or "ASC"
        if direction not in ("ASC", "DESC"):
            raise InvalidFilterError(f"cannot order by {item!r}: end it with ASC or DESC")
        numeric = target.startswith(("metrics.", "metric.")) or target.lower() in _NUMERIC
        kind, raw = ("number", "0") if numeric else ("string", "''")
        clause = _clause(item, target, "=", kind, raw, attributes=attributes)
        result.append((clause.key, direction == "ASC"))
    return result


def _clause(
    text: str, key: str, op: str, kind: str, raw: str, *, attributes: tuple[str, ...]
) -> Clause:
    prefix, _, rest = key.partition(".")
    if rest and prefix.lower() in ("tags", "tag"):
        key = f"tags.{rest}"
    elif rest and prefix.lower() in ("metrics", "metric"):
        if "version" not in attributes:
            raise _error(text, "models have no metrics; search versions for metrics.KEY")
        key = f"metrics.{rest}"
    elif key.lower() in attributes:
        key = key.lower()
    else:
        raise _error(text, f"unknown key {key!r}; use {', '.join(attributes)}, tags.KEY")
    numeric = key.startswith("metrics.") or key in _NUMERIC
    if numeric:
        if kind != "number":
            raise _error(text, f"{key} compares with a number, got {raw}")
        if op in ("LIKE", "ILIKE"):
            raise _error(text, f"{op} compares text, not {key}")
        return Clause(key, op, float(raw))
    if kind != "string":
        raise _error(text, f"{key} compares with a quoted string, got {raw}")
    if op in ("<", "<=", ">", ">="):
        raise _error(text, f"{key} is text: use =, !=, LIKE or ILIKE, not {op}")
    return Clause(key, op, re.sub(r"\\(.)", r"\1", raw[1:-1]))


def _tokenize(text: str) -> list[tuple[str, str]]:
    tokens = []
    position = 0
    text = text.rstrip()
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None or match.end() == position:
            raise _error(text, f"cannot read {text[position:].strip()[:30]!r}")
        position = match.end()
        group = next(g for g in ("key", "op", "string", "number") if match.group(g) is not None)
        value = match.group(group)
        kind = "ident" if group == "key" else group
        if kind == "ident":
            prefix, dot, rest = value.partition(".")
            if dot and rest[:1] in '`"':
                value = f"{prefix}.{rest[1:-1]}"
            if value.lower() == "and":
                kind, value = "and", "and"
            elif value.upper() in ("LIKE", "ILIKE"):
                kind = "op"
        tokens.append((kind, value))
    return tokens


def _like_pattern(pattern: str) -> str:
    return "".join(".*" if ch == "%" else "." if ch == "_" else re.escape(ch) for ch in pattern)


def _error(text: str, problem: str) -> InvalidFilterError:
    return InvalidFilterError(f'bad filter {text!r}: {problem}. Example: "{EXAMPLE}"')
