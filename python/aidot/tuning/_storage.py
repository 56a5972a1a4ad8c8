"""Studies and trials in the metadata store: the statements, and nothing about sampling.

Every worker of a study (threads, processes, machines sharing a PostgreSQL workspace) goes
through these functions. Creating a trial locks the study's row (SQLite's write lock, a
PostgreSQL row lock), so trial numbers, enqueued trials and sampler claims (grid points) are
handed out once. A trial's row is written only by the worker that runs it, and only while the
trial is RUNNING: a worker whose trial was failed for an expired heartbeat cannot resurrect it.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aidot._ids import new_id, now_ms, utc_datetime
from aidot.errors import AlreadyExistsError, NotFoundError, TrialFinishedError
from aidot.store._metadata_store import bulk_insert, run_sql
from aidot.store._schema import runs, studies, trials
from aidot.tuning._distributions import _as_dict, _from_dict
from aidot.tuning._frozen import FrozenTrial, StudyDirection, TrialState

if TYPE_CHECKING:
    import sqlalchemy as sa

    from aidot.store import MetadataStore


@dataclass(frozen=True)
class StudyRecord:
    """A study's row."""

    id: str
    name: str
    directions: list[StudyDirection]
    run_id: str | None
    user_attrs: dict[str, Any]
    system_attrs: dict[str, Any]
    created_at: int


@dataclass(frozen=True)
class NewTrial:
    """What creating a trial handed to its worker."""

    id: str
    number: int
    run_id: str
    started_at: int
    fixed_params: dict[str, Any]
    """Parameters an enqueued trial must take (``study.enqueue_trial``)."""
    user_attrs: dict[str, Any]
    claim: str | None
    changed: list[FrozenTrial] = field(default_factory=list)
    """The study's trials numbered ``read_from`` and up, read in the same transaction."""


Reserve = Callable[[set[str]], "str | None"]
"""A sampler's choice of claim given the claims already taken in the study."""


class TrialStore:
    """The studies and trials of one metadata store."""

    def __init__(self, store: MetadataStore) -> None:
        self.store = store

    # --- studies --------------------------------------------------------------------------

    def create_study(
        self,
        name: str,
        directions: list[StudyDirection],
        system_attrs: Mapping[str, Any],
        run_row: Mapping[str, Any],
    ) -> StudyRecord:
        """Creates the study and its parent run in one transaction."""
        row = {
            "id": new_id(),
            "name": name,
            "directions": json.dumps([d.value for d in directions]),
            "run_id": run_row["id"],
            "user_attrs": "{}",
            "system_attrs": json.dumps(dict(system_attrs)),
            "created_at": now_ms(),
        }
        try:
            with self.store.write() as conn:
                conn.execute(runs.insert(), [dict(run_row)])
                conn.execute(studies.insert(), [row])
        except AlreadyExistsError:
            raise AlreadyExistsError(
                f"a study named {name!r} exists already; load it (load_study, or "
                "create_study(..., load_if_exists=True)) or pick another name"
            ) from None
        return _study(row)

    def get_study(self, name: str) -> StudyRecord:
        """The study named ``name``; :class:`NotFoundError` when there is none."""
        import sqlalchemy as sa

        with self.store.read() as conn:
            row = conn.execute(sa.select(studies).where(studies.c.name == name)).first()
        if row is None:
            raise NotFoundError(
                f"no study named {name!r}; list them with aidot studies ls, or create it "
                "with create_study"
            )
        return _study(row._mapping)

    def list_studies(self) -> list[tuple[StudyRecord, dict[str, int]]]:
        """Every study, oldest first, with its trial counts by state."""
        import sqlalchemy as sa

        with self.store.read() as conn:
            rows = conn.execute(sa.select(studies).order_by(studies.c.created_at)).all()
            counts = conn.execute(
                sa.select(trials.c.study_id, trials.c.state, sa.func.count()).group_by(
                    trials.c.study_id, trials.c.state
                )
            ).all()
        by_study: dict[str, dict[str, int]] = {}
        for study_id, state, count in counts:
            by_study.setdefault(study_id, {})[state] = int(count)
        return [(_study(row._mapping), by_study.get(row.id, {})) for row in rows]

    def delete_study(self, name: str) -> None:
        """Deletes a study and its trials (their tracking runs stay)."""
        study = self.get_study(name)
        with self.store.write() as conn:
            conn.execute(trials.delete().where(trials.c.study_id == study.id))
            conn.execute(studies.delete().where(studies.c.id == study.id))

    def set_study_attr(self, study_id: str, column: str, key: str, value: Any) -> None:
        """Sets one key of the study's ``user_attrs`` or ``system_attrs``."""
        import sqlalchemy as sa

        with self.store.write() as conn:
            text = conn.execute(
                sa.select(studies.c[column]).where(studies.c.id == study_id)
            ).scalar_one()
            attrs = json.loads(text)
            attrs[key] = value
            conn.execute(
                studies.update().where(studies.c.id == study_id).values({column: json.dumps(attrs)})
            )

    # --- trials ---------------------------------------------------------------------------

    def create_trial(
        self,
        study_id: str,
        run_row: Callable[[int], dict[str, Any]],
        reserve: Reserve | None,
        *,
        read_from: int | None = None,
    ) -> NewTrial:
        """Starts the next trial: the oldest enqueued one, else a new number. ``run_row``
        builds the trial's tracking run for a trial number; ``reserve`` picks a claim. With
        ``read_from``, the trials numbered from there on come back too (one transaction
        instead of two: the worker reads what changed before sampling anyway)."""
        with self.store.write() as conn:
            new = self._create_trial(conn, study_id, run_row, reserve)
            if read_from is not None:
                # Not the new trial itself: its worker holds it.
                new.changed.extend(_fetch(conn, study_id, read_from, skip=new.id))
        return new

    def _create_trial(
        self,
        conn: sa.Connection,
        study_id: str,
        run_row: Callable[[int], dict[str, Any]],
        reserve: Reserve | None,
    ) -> NewTrial:
        import sqlalchemy as sa

        now = now_ms()
        _lock_study(conn, study_id)
        # Index lookups: the oldest enqueued trial, else the next number (one query with a
        # CASE read every trial of the study).
        (first_waiting,) = run_sql(
            conn,
            "SELECT min(number) FROM aidot_trials WHERE study_id = ? AND state = 'WAITING'",
            (study_id,),
        ).fetchone()
        if first_waiting is not None:
            waiting = conn.execute(
                sa.select(
                    trials.c.id, trials.c.number, trials.c.fixed_params, trials.c.user_attrs
                ).where(trials.c.study_id == study_id, trials.c.number == first_waiting)
            ).one()
            run = run_row(waiting.number)
            conn.execute(runs.insert(), [run])
            conn.execute(
                trials.update()
                .where(trials.c.id == waiting.id)
                .values(state=TrialState.RUNNING.value, run_id=run["id"], started_at=now)
            )
            return NewTrial(
                waiting.id,
                waiting.number,
                run["id"],
                now,
                json.loads(waiting.fixed_params or "{}"),
                json.loads(waiting.user_attrs),
                None,
            )
        number = _next_number(conn, study_id)
        claim = None
        if reserve is not None:
            taken = conn.execute(
                sa.select(trials.c.claim).where(
                    trials.c.study_id == study_id, trials.c.claim.is_not(None)
                )
            ).scalars()
            claim = reserve(set(taken))
        run = run_row(number)
        bulk_insert(conn, runs, [tuple(run[c.name] for c in runs.columns)])
        trial_id = new_id()
        row = _trial_row(
            trial_id,
            study_id,
            number,
            TrialState.RUNNING,
            run_id=run["id"],
            claim=claim,
            started_at=now,
        )
        bulk_insert(conn, trials, [tuple(row[c.name] for c in trials.columns)])
        return NewTrial(trial_id, number, run["id"], now, {}, {}, claim)

    def enqueue(
        self, study_id: str, fixed_params: Mapping[str, Any], user_attrs: Mapping[str, Any]
    ) -> int:
        """Adds a WAITING trial that the next worker to ask takes first; returns its number."""
        with self.store.write() as conn:
            _lock_study(conn, study_id)
            number = _next_number(conn, study_id)
            row = _trial_row(new_id(), study_id, number, TrialState.WAITING)
            row["fixed_params"] = json.dumps(dict(fixed_params))
            row["user_attrs"] = json.dumps(dict(user_attrs))
            conn.execute(trials.insert(), [row])
        return number

    def write_trial(
        self,
        trial_id: str,
        number: int,
        *,
        finish: Callable[[sa.Connection], None] | None = None,
        **fields: Any,
    ) -> None:
        """Writes a RUNNING trial's fields (``params``, ``distributions``, ``values``,
        ``intermediate``, ``user_attrs``, ``system_attrs``, ``state``, ``completed_at``);
        ``finish`` runs in the same transaction (the end of the trial's run)."""
        values = {_COLUMNS.get(k, k): _encode(k, v) for k, v in fields.items()}
        assignments = ", ".join(f"{column} = ?" for column in values)
        with self.store.write() as conn:
            updated = run_sql(
                conn,
                f"UPDATE aidot_trials SET {assignments} WHERE id = ? AND state = 'RUNNING'",
                (*values.values(), trial_id),
            ).rowcount
            if updated != 1:
                raise TrialFinishedError(
                    f"trial {number} is finished already (told before, or failed because its "
                    "worker's heartbeat expired); a finished trial never changes"
                )
            if finish is not None:
                finish(conn)

    def fetch(self, study_id: str, from_number: int) -> list[FrozenTrial]:
        """The study's trials numbered ``from_number`` and up, in order."""
        with self.store.read() as conn:
            return _fetch(conn, study_id, from_number)

    def fail_stale(self, study_id: str, timeout_ms: int) -> list[int]:
        """Marks FAIL every RUNNING trial of the study whose run's heartbeat is older than
        ``timeout_ms``, and ends those runs FAILED; returns their numbers."""
        import sqlalchemy as sa

        now = now_ms()
        cutoff = now - timeout_ms
        query = (
            sa.select(trials.c.id, trials.c.number, trials.c.run_id, trials.c.system_attrs)
            .join(runs, runs.c.id == trials.c.run_id)
            .where(
                trials.c.study_id == study_id,
                trials.c.state == TrialState.RUNNING.value,
                runs.c.heartbeat_at < cutoff,
            )
        )
        # Look first without the write lock: almost always nobody died.
        with self.store.read() as conn:
            if not conn.execute(query.limit(1)).first():
                return []
        with self.store.write() as conn:
            stale = conn.execute(query).all()
            for row in stale:
                attrs = json.loads(row.system_attrs)
                attrs["fail_reason"] = (
                    f"its worker stopped sending heartbeats for over {timeout_ms / 1000:g} s "
                    "(the process died or lost the database)"
                )
                conn.execute(
                    trials.update()
                    .where(trials.c.id == row.id, trials.c.state == TrialState.RUNNING.value)
                    .values(
                        state=TrialState.FAIL.value,
                        system_attrs=json.dumps(attrs),
                        completed_at=now,
                    )
                )
                conn.execute(
                    runs.update()
                    .where(runs.c.id == row.run_id)
                    .values(status="FAILED", end_time=now, heartbeat_at=now)
                )
        return [row.number for row in stale]


_COLUMNS = {"values": "objective_values"}
_TRIAL_COLUMNS = [c.name for c in trials.columns]
_SELECT_FROM = (
    f"SELECT {', '.join(_TRIAL_COLUMNS)} FROM aidot_trials "
    "WHERE study_id = ? AND number >= ? AND id <> ? ORDER BY number"
)


def _fetch(
    conn: sa.Connection, study_id: str, from_number: int, skip: str = ""
) -> list[FrozenTrial]:
    rows = run_sql(conn, _SELECT_FROM, (study_id, from_number, skip))
    return [_frozen(dict(zip(_TRIAL_COLUMNS, row, strict=True))) for row in rows]


def _encode(key: str, value: Any) -> Any:
    if key == "state":
        return TrialState(value).value
    if key == "distributions":
        return json.dumps({name: _as_dict(d) for name, d in value.items()})
    if key == "intermediate":
        return json.dumps({str(step): v for step, v in value.items()})
    if key in ("params", "values", "user_attrs", "system_attrs"):
        return None if value is None else json.dumps(value)
    return value


def _lock_study(conn: sa.Connection, study_id: str) -> None:
    """Serializes trial creation in a study: a row lock on PostgreSQL. SQLite's write
    transaction is serialized already, and its foreign key refuses a deleted study."""
    import sqlalchemy as sa

    if conn.dialect.name != "postgresql":
        return
    query = sa.select(studies.c.id).where(studies.c.id == study_id).with_for_update()
    if conn.execute(query).first() is None:
        raise NotFoundError(f"the study {study_id} was deleted; create it again to go on")


def _next_number(conn: sa.Connection, study_id: str) -> int:
    (latest,) = run_sql(
        conn, "SELECT max(number) FROM aidot_trials WHERE study_id = ?", (study_id,)
    ).fetchone()
    return 0 if latest is None else int(latest) + 1


def _trial_row(
    trial_id: str,
    study_id: str,
    number: int,
    state: TrialState,
    *,
    run_id: str | None = None,
    claim: str | None = None,
    started_at: int | None = None,
) -> dict[str, Any]:
    return {
        "id": trial_id,
        "study_id": study_id,
        "number": number,
        "state": state.value,
        "claim": claim,
        "run_id": run_id,
        "params": "{}",
        "distributions": "{}",
        "fixed_params": None,
        "objective_values": None,
        "intermediate": "{}",
        "user_attrs": "{}",
        "system_attrs": "{}" if claim is None else json.dumps({"claim": claim}),
        "started_at": started_at,
        "completed_at": None,
    }


def _study(row: Any) -> StudyRecord:
    return StudyRecord(
        id=row["id"],
        name=row["name"],
        directions=[StudyDirection(d) for d in json.loads(row["directions"])],
        run_id=row["run_id"],
        user_attrs=json.loads(row["user_attrs"]),
        system_attrs=json.loads(row["system_attrs"]),
        created_at=row["created_at"],
    )


def _frozen(row: Mapping[str, Any]) -> FrozenTrial:
    distributions = {name: _from_dict(d) for name, d in json.loads(row["distributions"]).items()}
    internal = json.loads(row["params"])
    return FrozenTrial(
        number=row["number"],
        state=TrialState(row["state"]),
        values=None if row["objective_values"] is None else json.loads(row["objective_values"]),
        params={name: distributions[name].to_external_repr(v) for name, v in internal.items()},
        distributions=distributions,
        intermediate_values={int(k): v for k, v in json.loads(row["intermediate"]).items()},
        user_attrs=json.loads(row["user_attrs"]),
        system_attrs=json.loads(row["system_attrs"]),
        datetime_start=None if row["started_at"] is None else utc_datetime(row["started_at"]),
        datetime_complete=None
        if row["completed_at"] is None
        else utc_datetime(row["completed_at"]),
        trial_id=row["id"],
        run_id=row["run_id"],
        _internal=internal,
    )
