"""``search_runs``: MLflow's filter and order-by syntax, compiled to one SQL query.

Filter: clauses joined by ``and``; each is ``ENTITY.KEY OP VALUE`` where ENTITY is ``metrics``,
``params``, ``tags`` or ``attributes`` (``status``, ``name``, ``run_id``, ``experiment_id``,
``start_time``, ``end_time``, ``parent_id``), OP one of ``= != < <= > >= LIKE ILIKE``, and
VALUE a number (metrics, times) or a quoted string. Keys with spaces or dots go in backticks or
double quotes: ``metrics.`val loss` < 1``. Order-by: ``"ENTITY.KEY [ASC|DESC]"``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from aidot._filters import split_comparisons
from aidot.errors import InvalidFilterError
from aidot.store._schema import metric_series, params, runs, tags

if TYPE_CHECKING:
    import sqlalchemy as sa

_ATTRIBUTES = {
    "status": "status",
    "name": "name",
    "run_name": "name",
    "run_id": "id",
    "id": "id",
    "experiment_id": "experiment_id",
    "start_time": "start_time",
    "end_time": "end_time",
    "parent_id": "parent_id",
}
_NUMERIC_ATTRIBUTES = {"start_time", "end_time"}
_TOKEN = re.compile(
    r"""\s*(?:
        (?P<entity>metrics|metric|params|param|tags|tag|attributes|attribute|attr|run)\.
            (?P<key>`[^`]+`|"[^"]+"|[A-Za-z0-9_\-/.]+?)(?=\s|[<>=!]|$)
      | (?P<op>!=|<=|>=|=|<|>|\bLIKE\b|\bILIKE\b)
      | (?P<string>'(?:[^'\\]|\\.)*')
      | (?P<number>[-+]?(?:\d+\.?\d*(?:[eE][-+]?\d+)?|\.\d+(?:[eE][-+]?\d+)?|inf|nan))
      | (?P<and>\bAND\b)
    )""",
    re.VERBOSE | re.IGNORECASE,
)
_ENTITY = {
    "metrics": "metrics",
    "metric": "metrics",
    "params": "params",
    "param": "params",
    "tags": "tags",
    "tag": "tags",
    "attributes": "attributes",
    "attribute": "attributes",
    "attr": "attributes",
    "run": "attributes",
}


@dataclass(frozen=True)
class Clause:
    entity: str
    key: str
    op: str
    value: str | float


def parse_filter(text: str | None) -> list[Clause]:
    """The clauses of a filter string; raises :class:`InvalidFilterError` on bad syntax."""
    if text is None or not text.strip():
        return []
    comparisons = split_comparisons(
        _tokenize(text),
        lambda problem: _error(text, problem),
        "ENTITY.KEY",
    )
    clauses = []
    for ident, op, kind, raw in comparisons:
        entity, key = ident.split(".", 1)
        clauses.append(_clause(text, entity, key, op, kind=kind, raw=raw))
    return clauses


def parse_order_by(items: list[str] | None) -> list[tuple[str, str, bool]]:
    """``(entity, key, ascending)`` for each order-by item."""
    result = []
    for item in items or []:
        parts = item.strip().rsplit(None, 1)
        ascending = True
        target = item
        if len(parts) == 2 and parts[1].upper() in ("ASC", "DESC"):
            ascending = parts[1].upper() == "ASC"
            target = parts[0]
        try:
            tokens = _tokenize(target)
        except InvalidFilterError:
            tokens = []
        if len(tokens) != 1 or tokens[0][0] != "ident":
            raise InvalidFilterError(
                f"cannot order by {item!r}: use 'metrics.KEY', 'params.KEY', 'tags.KEY' or "
                "'attributes.start_time', optionally followed by ASC or DESC"
            )
        entity, key = tokens[0][1].split(".", 1)
        if entity == "attributes" and key not in _ATTRIBUTES:
            raise InvalidFilterError(f"unknown run attribute {key!r} in order_by {item!r}")
        result.append((entity, key, ascending))
    return result


def build_query(
    experiment_ids: list[str],
    clauses: list[Clause],
    order: list[tuple[str, str, bool]],
    max_results: int,
    offset: int = 0,
    *,
    include_deleted: bool = False,
) -> sa.Select[Any]:
    """One SELECT of run ids matching everything, in order, from the ``offset``-th."""
    import sqlalchemy as sa

    query = _matching(sa.select(runs.c.id), experiment_ids, clauses, include_deleted)
    order_columns = []
    for n, (entity, key, ascending) in enumerate(order):
        order_joins: list[tuple[Any, Any]] = []
        column = _column_for(entity, key, 1000 + n, order_joins)
        for table, condition in order_joins:
            query = query.outerjoin(table, condition)
        order_columns.append((column.asc() if ascending else column.desc()).nulls_last())
    order_columns.append(runs.c.start_time.desc())
    order_columns.append(runs.c.id)
    return query.order_by(*order_columns).limit(max_results).offset(offset)


def count_query(
    experiment_ids: list[str], clauses: list[Clause], include_deleted: bool = False
) -> sa.Select[Any]:
    """One SELECT of how many runs match."""
    import sqlalchemy as sa

    count = sa.select(sa.func.count(runs.c.id))
    return _matching(count, experiment_ids, clauses, include_deleted)


def _matching(
    query: sa.Select[Any],
    experiment_ids: list[str],
    clauses: list[Clause],
    include_deleted: bool,
) -> sa.Select[Any]:
    query = query.where(runs.c.experiment_id.in_(experiment_ids))
    if not include_deleted:
        query = query.where(runs.c.lifecycle == "active")
    for n, clause in enumerate(clauses):
        joins: list[tuple[Any, Any]] = []
        column = _column_for(clause.entity, clause.key, n, joins)
        for table, condition in joins:
            query = query.join(table, condition)
        query = query.where(_compare(column, clause))
    return query


def _column_for(entity: str, key: str, n: int, joins: list[tuple[Any, Any]]) -> Any:
    if entity == "attributes":
        return runs.c[_ATTRIBUTES[key]]
    table = {"metrics": metric_series, "params": params, "tags": tags}[entity]
    alias = table.alias(f"{entity}_{n}")
    joins.append((alias, (alias.c.run_id == runs.c.id) & (alias.c.key == key)))
    return alias.c.last_value if entity == "metrics" else alias.c.value


def _compare(column: Any, clause: Clause) -> Any:
    value = clause.value
    op = clause.op
    if op == "LIKE":
        return column.like(value)
    if op == "ILIKE":
        return column.ilike(value)
    return {
        "=": column == value,
        "!=": column != value,
        "<": column < value,
        "<=": column <= value,
        ">": column > value,
        ">=": column >= value,
    }[op]


def _clause(text: str, entity: str, key: str, op: str, *, kind: str, raw: str) -> Clause:
    if entity == "metrics":
        if kind != "number":
            raise _error(text, f"metrics.{key} compares with a number, got {raw}")
        if op in ("LIKE", "ILIKE"):
            raise _error(text, f"{op} works on params, tags and attributes, not metrics")
        return Clause(entity, key, op, float(raw))
    if entity == "attributes":
        if key not in _ATTRIBUTES:
            raise _error(
                text, f"unknown run attribute {key!r}; known: {', '.join(sorted(_ATTRIBUTES))}"
            )
        if _ATTRIBUTES[key] in _NUMERIC_ATTRIBUTES:
            if kind != "number":
                raise _error(text, f"attributes.{key} compares with a number (ms since epoch)")
            return Clause(entity, key, op, float(raw))
    if kind != "string":
        raise _error(text, f"{entity}.{key} compares with a quoted string, got {raw}")
    if op in ("<", "<=", ">", ">="):
        raise _error(text, f"{entity}.{key} is text: use =, !=, LIKE or ILIKE, not {op}")
    return Clause(entity, key, op, _unquote(raw))


def _tokenize(text: str) -> list[tuple[str, str]]:
    tokens = []
    position = 0
    text = text.rstrip()
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None or match.end() == position:
            raise _error(text, f"cannot read {text[position:].strip()[:30]!r}")
        position = match.end()
        if match.group("entity"):
            entity = _ENTITY[match.group("entity").lower()]
            key = match.group("key")
            if key[0] in '`"':
                key = key[1:-1]
            tokens.append(("ident", f"{entity}.{key}"))
        elif match.group("op"):
            tokens.append(("op", match.group("op")))
        elif match.group("string"):
            tokens.append(("string", match.group("string")))
        elif match.group("number"):
            tokens.append(("number", match.group("number")))
        elif match.group("and"):
            tokens.append(("and", "and"))
    return tokens


def _unquote(raw: str) -> str:
    return re.sub(r"\\(.)", r"\1", raw[1:-1])


def _error(text: str, problem: str) -> InvalidFilterError:
    return InvalidFilterError(
        f"bad filter {text!r}: {problem}. Example: \"metrics.loss < 0.1 and params.lr = '0.01'\""
    )
