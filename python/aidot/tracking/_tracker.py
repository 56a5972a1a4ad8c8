"""ExperimentTracker: experiments, runs, params, tags and metrics in the workspace's stores."""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aidot._ids import new_id, now_ms
from aidot.errors import (
    AlreadyExistsError,
    InvalidArgumentError,
    NotFoundError,
    StoreUnavailableError,
)
from aidot.store._metadata_store import bulk_insert, run_sql
from aidot.store._schema import experiments, metric_series, params, runs, tags
from aidot.store._schema import params as params_table
from aidot.tracking import _ops
from aidot.tracking._artifacts import ArtifactInfo, ArtifactStore
from aidot.tracking._context import capture_context
from aidot.tracking._history import MetricHistory, read_history
from aidot.tracking._liveness import (
    DEFAULT_HEARTBEAT_TIMEOUT_S,
    HEARTBEAT_INTERVAL_S,
    Heartbeat,
    end_runs_on_sigterm,
)
from aidot.tracking._run import Run, RunStatus
from aidot.tracking._run_rows import load_runs, runs_frame
from aidot.tracking._validation import check_key
from aidot.tracking._writer import DEFAULT_INTERVAL_S, MetricWriter

if TYPE_CHECKING:
    import sqlalchemy as sa

    from aidot.blobs import BlobStore
    from aidot.checkpoints import CheckpointInfo
    from aidot.store import MetadataStore

DEFAULT_EXPERIMENT = "Default"
_MAX_VALUE_LENGTH = 8000


@dataclass(frozen=True)
class Experiment:
    """A named group of runs."""

    id: str
    name: str
    lifecycle: str
    """``active``, or ``deleted`` (hidden from listings, restorable)."""
    created_at: int


@dataclass(frozen=True)
class RunInfo:
    """Everything recorded about a run: status, times, params, tags, latest metrics, context."""

    id: str
    experiment_id: str
    name: str
    status: RunStatus
    parent_id: str | None
    start_time: int
    end_time: int | None
    params: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    """The latest value of each metric."""
    context: dict[str, Any] = field(default_factory=dict)
    lifecycle: str = "active"
    """``active``, or ``deleted`` (by :meth:`ExperimentTracker.delete_run`; restorable)."""


class ExperimentTracker:
    """Tracks experiments and runs in a workspace (``ws.tracker``), as MLflow users expect.

    Metric points go through a background writer that batches them every ``flush_interval``
    seconds; ``synchronous=True`` writes each point before ``log_metric`` returns.

    While the store is unreachable, metrics, params, tags, artifact records and run ends are
    kept in a spool file under ``spool_dir`` (default ``$AIDOT_SPOOL_DIR``, else
    ``~/.cache/aidot/spool``; a workspace's tracker uses ``<workspace>/spool``) and written
    once it is back, by this process or, if it dies first, by the next one to open the store.
    """

    def __init__(
        self,
        store: MetadataStore,
        blobs: BlobStore | None = None,
        *,
        flush_interval: float = DEFAULT_INTERVAL_S,
        synchronous: bool = False,
        heartbeat_interval: float = HEARTBEAT_INTERVAL_S,
        heartbeat_timeout: float = DEFAULT_HEARTBEAT_TIMEOUT_S,
        spool_dir: str | os.PathLike[str] | None = None,
    ) -> None:
        self._store = store
        self._artifacts = ArtifactStore(store, blobs, self._record) if blobs is not None else None
        spool_root = Path(spool_dir) if spool_dir is not None else _default_spool_root()
        self._writer = MetricWriter(
            store,
            interval=flush_interval,
            synchronous=synchronous,
            spool_dir=spool_root / store.workspace_id,
        )
        self._heartbeat_interval = heartbeat_interval
        self._heartbeat_timeout_ms = int(heartbeat_timeout * 1000)
        self._heartbeat: Heartbeat | None = None
        self._active: dict[str, Run] = {}
        self._active_lock = threading.RLock()  # re-entered by the SIGTERM handler

    # --- experiments ----------------------------------------------------------------------

    def create_experiment(self, name: str) -> Experiment:
        """Creates an experiment; the name must be new (deleted experiments keep theirs)."""
        _check_name(name, "experiment name")
        now = now_ms()
        row = {"id": new_id(), "name": name, "lifecycle": "active"}
        try:
            with self._store.write() as conn:
                conn.execute(experiments.insert(), [{**row, "created_at": now, "updated_at": now}])
        except AlreadyExistsError:
            raise AlreadyExistsError(
                f"an experiment named {name!r} exists already (perhaps deleted: restore it, "
                "or pick another name)"
            ) from None
        return Experiment(row["id"], name, "active", now)

    def get_experiment(self, experiment_id: str) -> Experiment:
        """The experiment with this id."""
        return self._one_experiment(experiments.c.id == experiment_id, f"id {experiment_id!r}")

    def get_experiment_by_name(self, name: str) -> Experiment:
        """The experiment with this name."""
        return self._one_experiment(experiments.c.name == name, f"name {name!r}")

    def list_experiments(self, *, include_deleted: bool = False) -> list[Experiment]:
        """Experiments, oldest first."""
        import sqlalchemy as sa

        query = sa.select(experiments).order_by(experiments.c.created_at, experiments.c.id)
        if not include_deleted:
            query = query.where(experiments.c.lifecycle == "active")
        with self._store.read() as conn:
            return [_experiment(row) for row in conn.execute(query)]

    def rename_experiment(self, experiment_id: str, new_name: str) -> Experiment:
        """Gives an experiment a new (unused) name."""
        _check_name(new_name, "experiment name")
        self._update_experiment(experiment_id, name=new_name)
        return self.get_experiment(experiment_id)

    def delete_experiment(self, experiment_id: str) -> None:
        """Hides an experiment and its runs from listings; :meth:`restore_experiment` undoes it."""
        self._update_experiment(experiment_id, lifecycle="deleted")

    def restore_experiment(self, experiment_id: str) -> None:
        """Brings back a deleted experiment."""
        self._update_experiment(experiment_id, lifecycle="active")

    # --- runs -----------------------------------------------------------------------------

    def start_run(
        self,
        experiment: str | None = None,
        *,
        name: str | None = None,
        tags: Mapping[str, Any] | None = None,
        parent: Run | str | None = None,
        run_id: str | None = None,
    ) -> Run:
        """Starts a run in ``experiment`` (a name; created when missing, default "Default").

        ``parent`` (a run or its id) makes it a nested run. ``run_id`` resumes an existing run
        instead (for example in the process that continues an interrupted training): it is
        RUNNING again until it ends. Use the result as a context manager, or call
        :meth:`Run.end`.
        """
        if run_id is not None:
            return self._resume_run(run_id, tags)
        exp = self._experiment_for_run(experiment or DEFAULT_EXPERIMENT)
        parent_id = parent.id if isinstance(parent, Run) else parent
        if parent_id is not None:
            self._require_run(parent_id)  # fails clearly on an unknown parent
        run_id = new_id()
        now = now_ms()
        row = {
            "id": run_id,
            "experiment_id": exp.id,
            "name": name or f"run-{run_id[-6:]}",
            "status": RunStatus.RUNNING.value,
            "parent_id": parent_id,
            "start_time": now,
            "end_time": None,
            "heartbeat_at": now,
            "lifecycle": "active",
            "context": json.dumps(capture_context()),
        }
        with self._store.write() as conn:
            conn.execute(runs.insert(), [row])
        run = Run(self, run_id, exp.id)
        self._activate(run)
        if tags:
            run.set_tags(tags)
        return run

    def _resume_run(self, run_id: str, tags: Mapping[str, Any] | None) -> Run:
        import sqlalchemy as sa

        with self._store.write() as conn:
            row = conn.execute(sa.select(runs).where(runs.c.id == run_id)).first()
            if row is None:
                raise _no_run(run_id)
            conn.execute(
                runs.update()
                .where(runs.c.id == run_id)
                .values(status=RunStatus.RUNNING.value, end_time=None, heartbeat_at=now_ms())
            )
            logged = _ops.stored_key_values(conn, params, run_id)
            last_steps = conn.execute(
                sa.select(metric_series.c.key, metric_series.c.last_step).where(
                    metric_series.c.run_id == run_id
                )
            ).all()
        run = Run(self, run_id, row.experiment_id)
        run._params.update(logged)
        # Default steps continue where the run stopped rather than restarting at 0.
        run._steps.update({key: int(step) + 1 for key, step in last_steps})
        self._activate(run)
        if tags:
            run.set_tags(tags)
        return run

    def _activate(self, run: Run) -> None:
        with self._active_lock:
            self._active[run.id] = run
            if self._heartbeat is None:
                self._heartbeat = Heartbeat(self._beat, self._heartbeat_interval)
        end_runs_on_sigterm(self)

    def get_run(self, run_id: str) -> RunInfo:
        """Everything recorded about a run, with its metrics' latest values."""
        with self._store.read() as conn:
            rows, fields = load_runs(conn, [run_id])
        if run_id not in rows:
            raise _no_run(run_id)
        return self._info(rows[run_id], **fields[run_id])

    def search_runs(
        self,
        experiments: list[str] | str | None = None,
        filter: str | None = None,
        order_by: list[str] | None = None,
        max_results: int = 1000,
        offset: int = 0,
        *,
        include_deleted: bool = False,
    ) -> list[RunInfo]:
        """Runs of ``experiments`` (names or ids; default all active) matching ``filter``,
        sorted by ``order_by`` then newest first, in MLflow's syntax::

            search_runs("churn", "metrics.loss < 0.1 and params.lr = '0.01'",
                        order_by=["metrics.loss ASC"])

        ``offset`` skips that many matching runs first, for paging (with :meth:`count_runs`).
        Deleted runs (:meth:`delete_run`) are left out unless ``include_deleted``. A filter
        that does not parse raises :class:`~aidot.errors.InvalidFilterError`.
        """

        from aidot.tracking._search import build_query, parse_filter, parse_order_by

        if max_results < 1:
            raise InvalidArgumentError(f"max_results must be at least 1, got {max_results}")
        if offset < 0:
            raise InvalidArgumentError(f"offset must be 0 or more, got {offset}")
        clauses = parse_filter(filter)
        order = parse_order_by(order_by)
        experiment_ids = self._experiment_ids(experiments)
        with self._store.read() as conn:
            ids = list(
                conn.execute(
                    build_query(
                        experiment_ids,
                        clauses,
                        order,
                        max_results,
                        offset,
                        include_deleted=include_deleted,
                    )
                ).scalars()
            )
            if not ids:
                return []
            rows, fields = load_runs(conn, ids)
        return [self._info(rows[run_id], **fields[run_id]) for run_id in ids]

    def search_runs_df(
        self,
        experiments: list[str] | str | None = None,
        filter: str | None = None,
        order_by: list[str] | None = None,
        max_results: int = 1000,
    ) -> Any:
        """:meth:`search_runs` as a pandas DataFrame with ``params.*``, ``metrics.*`` and
        ``tags.*`` columns, as MLflow's ``search_runs`` returns (needs pandas)."""
        return runs_frame(self.search_runs(experiments, filter, order_by, max_results))

    def get_metric_history(
        self, run_id: str, key: str, max_points: int | None = None
    ) -> MetricHistory:
        """A metric's points; with ``max_points``, a downsample keeping min, max and last per
        bucket when the series is longer, read without touching the full series."""
        if max_points is not None and max_points < 1:
            raise InvalidArgumentError(f"max_points must be at least 1, got {max_points}")
        with self._store.read() as conn:
            _require_run(conn, run_id)
            return read_history(conn, run_id, key, max_points)

    def delete_run(self, run_id: str) -> None:
        """Hides a run from searches, counts and the UI's tables, as MLflow's ``delete_run``
        does; its data stays (:meth:`get_run` still reads it) and :meth:`restore_run` brings
        it back."""
        self._set_lifecycle(run_id, "deleted")

    def restore_run(self, run_id: str) -> None:
        """Brings back a deleted run."""
        self._set_lifecycle(run_id, "active")

    def _set_lifecycle(self, run_id: str, lifecycle: str) -> None:
        self._require_run(run_id)
        with self._store.write() as conn:
            conn.execute(runs.update().where(runs.c.id == run_id).values(lifecycle=lifecycle))

    def set_tag(self, run_id: str, key: str, value: Any) -> None:
        """Sets (or replaces) a tag on any run, running or finished, as MLflow's client does."""
        self._require_run(run_id)
        self._set_tags(run_id, {key: value})

    def list_artifacts(self, run_id: str, path: str | None = None) -> list[ArtifactInfo]:
        """The files a run logged (under ``path`` if given), sorted by path."""
        self._require_run(run_id)
        return self._artifacts_for(run_id).entries(run_id, path)

    def download_artifacts(
        self, run_id: str, path: str, dest: str | os.PathLike[str]
    ) -> list[Path]:
        """Writes an artifact file, or a folder of them, under ``dest``; returns the files."""
        self._require_run(run_id)
        return self._artifacts_for(run_id).download(run_id, path, dest)

    @property
    def offline(self) -> bool:
        """Whether the store was unreachable at the last attempt, so that logged data waits
        in the local spool file to be written."""
        return self._writer.offline

    def list_checkpoints(self, run_id: str) -> list[CheckpointInfo]:
        """The checkpoints a run's :class:`~aidot.CheckpointManager` kept, oldest first."""
        from aidot.checkpoints._index import DatabaseIndex

        self._require_run(run_id)
        return DatabaseIndex(self._store, run_id).entries()

    def flush(self) -> None:
        """Returns once every metric logged so far, by any run of this tracker, is stored
        (or, while the store is unreachable, safely in the spool file)."""
        self._writer.flush()

    def close(self) -> None:
        """Flushes and stops the background writer and the heartbeat."""
        self._writer.close()
        if self._heartbeat is not None:
            self._heartbeat.stop()
            self._heartbeat = None

    # --- used by Run ----------------------------------------------------------------------

    def _log_params(self, run_id: str, values: Mapping[str, Any], logged: dict[str, str]) -> None:
        """Records params; ``logged`` holds what this run logged before, so that a changed
        value is refused even while the store is unreachable."""
        wanted = _checked_params(run_id, values, logged)
        self._record(_ops.Op("params", run_id, wanted))
        logged.update(wanted)

    def _set_tags(self, run_id: str, values: Mapping[str, Any]) -> None:
        self._record(_ops.Op("tags", run_id, _tag_text(values)))

    def _end_run(self, run_id: str, status: RunStatus, end_time: int) -> None:
        with self._active_lock:
            self._active.pop(run_id, None)
        if not self._record(_ops.Op("end", run_id, [status.value, end_time])):
            self._writer.flush()  # the end of a run is spooled durably before end() returns

    def _record(self, op: _ops.Op) -> bool:
        """Applies ``op`` now; while the store is unreachable, hands it to the writer to spool
        (returns False then). Training goes on either way."""
        if self._writer.offline:
            self._writer.defer(op)
            return False
        try:
            with self._store.write() as conn:
                _ops.apply(conn, op)
        except StoreUnavailableError:
            if not self._writer.can_defer:
                raise
            self._writer.defer(op)
            return False
        return True

    def count_runs(
        self,
        experiments: list[str] | str | None = None,
        filter: str | None = None,
        *,
        include_deleted: bool = False,
    ) -> int:
        """How many runs of ``experiments`` (names or ids; default all active) match
        ``filter`` (the syntax of :meth:`search_runs`; default every run), deleted ones only
        with ``include_deleted``."""
        from aidot.tracking._search import count_query, parse_filter

        experiment_ids = self._experiment_ids(experiments)
        query = count_query(experiment_ids, parse_filter(filter), include_deleted)
        with self._store.read() as conn:
            return int(conn.execute(query).scalar_one())

    def run_keys(self, experiments: list[str] | str | None = None) -> dict[str, list[str]]:
        """The param, metric and tag keys that runs of ``experiments`` (default all active)
        have, sorted: ``{"params": [...], "metrics": [...], "tags": [...]}``; what a runs
        table offers as columns."""
        import sqlalchemy as sa

        experiment_ids = self._experiment_ids(experiments)
        keys: dict[str, list[str]] = {}
        with self._store.read() as conn:
            for field_name, table in (
                ("params", params),
                ("metrics", metric_series),
                ("tags", tags),
            ):
                query = (
                    sa.select(table.c.key)
                    .distinct()
                    .join(runs, runs.c.id == table.c.run_id)
                    .where(runs.c.experiment_id.in_(experiment_ids), runs.c.lifecycle == "active")
                    .order_by(table.c.key)
                )
                keys[field_name] = list(conn.execute(query).scalars())
        return keys

    def _require_run(self, run_id: str) -> None:
        with self._store.read() as conn:
            _require_run(conn, run_id)

    # --- runs whose rows another component writes (tuning trials) --------------------------

    def _adopt_run(self, run_id: str, experiment_id: str) -> Run:
        """A :class:`Run` for a RUNNING row the caller inserted in its own transaction (a
        tuning trial's run), kept alive by this tracker's heartbeat."""
        run = Run(self, run_id, experiment_id)
        self._activate(run)
        return run

    def _end_adopted_run(
        self,
        conn: sa.Connection,
        run: Run,
        *,
        status: str,
        params: Mapping[str, Any],
        tags: Mapping[str, Any],
        end_time: int,
    ) -> None:
        """Records, in the caller's transaction, an adopted run's params, tags and end."""
        logged = run._params  # this process made the run: nobody else logged to it
        wanted = _checked_params(run.id, params, logged)
        new = [(run.id, k, v) for k, v in wanted.items() if k not in logged]
        if new:
            bulk_insert(conn, params_table, new)
        _ops.apply(conn, _ops.Op("tags", run.id, _tag_text(tags)))
        run_sql(
            conn,
            "UPDATE aidot_runs SET status = ?, end_time = ?, heartbeat_at = ? WHERE id = ?",
            (RunStatus(status).value, end_time, end_time, run.id),
        )

    def _release_run(self, run: Run) -> None:
        """Stops the heartbeat of an adopted run whose end was recorded."""
        with self._active_lock:
            self._active.pop(run.id, None)
        run._ended = True

    def _log_metric_to(self, run_id: str, key: str, value: float, step: int) -> None:
        """Queues a metric point for any run (a study's run, which no process holds open)."""
        self._writer.add_function()(
            (run_id, check_key(key, "metric name"), float(value), step, now_ms())
        )

    def _beat(self) -> None:
        with self._active_lock:
            ids = list(self._active)
        if ids:
            with self._store.write() as conn:
                conn.execute(runs.update().where(runs.c.id.in_(ids)).values(heartbeat_at=now_ms()))

    def _terminate_runs(self) -> None:
        with self._active_lock:
            active = list(self._active.values())
        for run in active:
            run.end(RunStatus.KILLED)

    def _info(self, row: Any, **fields: Any) -> RunInfo:
        return _run_info(row, timeout_ms=self._heartbeat_timeout_ms, **fields)

    def _blob_store(self) -> BlobStore:
        if self._artifacts is None:
            raise InvalidArgumentError(
                "this tracker has no blob store; use a workspace's tracker (ws.tracker) or "
                "pass blobs= to ExperimentTracker"
            )
        return self._artifacts.blobs

    def _artifacts_for(self, run_id: str) -> ArtifactStore:
        if self._artifacts is None:
            raise InvalidArgumentError(
                f"run {run_id}: this tracker has no blob store for artifacts; use a "
                "workspace's tracker (ws.tracker) or pass blobs= to ExperimentTracker"
            )
        return self._artifacts

    # --- helpers --------------------------------------------------------------------------

    def _experiment_for_run(self, name: str) -> Experiment:
        try:
            exp = self.get_experiment_by_name(name)
        except NotFoundError:
            try:
                return self.create_experiment(name)
            except AlreadyExistsError:  # created by another process meanwhile
                return self.get_experiment_by_name(name)
        if exp.lifecycle != "active":
            raise InvalidArgumentError(
                f"experiment {name!r} is deleted; restore it (restore_experiment) to add runs"
            )
        return exp

    def _experiment_ids(self, experiments: list[str] | str | None) -> list[str]:
        if experiments is None:
            return [e.id for e in self.list_experiments()]
        names = [experiments] if isinstance(experiments, str) else list(experiments)
        ids = []
        for name in names:
            try:
                ids.append(self.get_experiment_by_name(name).id)
            except NotFoundError:
                ids.append(self.get_experiment(name).id)
        return ids

    def _one_experiment(self, condition: Any, described: str) -> Experiment:
        import sqlalchemy as sa

        with self._store.read() as conn:
            row = conn.execute(sa.select(experiments).where(condition)).first()
        if row is None:
            raise NotFoundError(
                f"no experiment with {described}; list them with aidot experiments ls"
            )
        return _experiment(row)

    def _update_experiment(self, experiment_id: str, **values: str) -> None:
        self.get_experiment(experiment_id)
        try:
            with self._store.write() as conn:
                conn.execute(
                    experiments.update()
                    .where(experiments.c.id == experiment_id)
                    .values(updated_at=now_ms(), **values)
                )
        except AlreadyExistsError:
            raise AlreadyExistsError(
                f"an experiment named {values.get('name')!r} exists already"
            ) from None


def _no_run(run_id: str) -> NotFoundError:
    return NotFoundError(f"no run with id {run_id!r}; check the id")


def _require_run(conn: sa.Connection, run_id: str) -> None:
    """Raises NotFoundError for an unknown run, at the cost of one indexed lookup (rather
    than loading the run's params, tags and metrics only to throw them away)."""
    import sqlalchemy as sa

    if conn.execute(sa.select(runs.c.id).where(runs.c.id == run_id)).first() is None:
        raise _no_run(run_id)


def _run_info(
    row: Any,
    *,
    timeout_ms: int,
    params: dict[str, str],
    tags: dict[str, str],
    metrics: dict[str, float],
) -> RunInfo:
    status = RunStatus(row.status)
    if status is RunStatus.RUNNING and now_ms() - row.heartbeat_at > timeout_ms:
        status = RunStatus.CRASHED
    return RunInfo(
        id=row.id,
        experiment_id=row.experiment_id,
        name=row.name,
        status=status,
        parent_id=row.parent_id,
        start_time=row.start_time,
        end_time=row.end_time,
        params=params,
        tags=tags,
        metrics=metrics,
        context=json.loads(row.context),
        lifecycle=row.lifecycle,
    )


def _experiment(row: Any) -> Experiment:
    return Experiment(row.id, row.name, row.lifecycle, row.created_at)


def _default_spool_root() -> Path:
    env = os.environ.get("AIDOT_SPOOL_DIR")
    if env:
        return Path(env).expanduser()
    cache = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(cache) / "aidot" / "spool"


def _check_name(name: object, what: str) -> None:
    if not isinstance(name, str) or not name.strip() or len(name) > 255:
        raise InvalidArgumentError(f"{what} must be a non-empty string of at most 255 characters")


def _checked_params(
    run_id: str, values: Mapping[str, Any], logged: Mapping[str, str]
) -> dict[str, str]:
    """``values`` as stored text; a key ``logged`` already holds with another value raises."""
    wanted = {check_key(k, "param name"): _value_text(k, v) for k, v in values.items()}
    for key, value in wanted.items():
        if key in logged and logged[key] != value:
            raise _ops.param_conflict(run_id, key, logged[key], value)
    return wanted


def _tag_text(values: Mapping[str, Any]) -> dict[str, str]:
    return {check_key(k, "tag name"): _value_text(k, v) for k, v in values.items()}


def _value_text(key: str, value: Any) -> str:
    text = value if isinstance(value, str) else str(value)
    if len(text) > _MAX_VALUE_LENGTH:
        raise InvalidArgumentError(
            f"value of {key!r} is {len(text)} characters long; the limit is {_MAX_VALUE_LENGTH}"
        )
    return text
