"""A study: the trials of one optimization, stored in the workspace, shared by its workers."""

from __future__ import annotations

import contextlib
import gc
import json
import logging
import math
import os
import threading
import time
from collections.abc import Callable, Container, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from aidot._ids import new_id, now_ms, utc_datetime
from aidot.errors import (
    GridExhaustedError,
    InvalidArgumentError,
    NotFoundError,
    TrialFinishedError,
    TrialPruned,
)
from aidot.tuning._cache import TrialCache
from aidot.tuning._columns import TrialColumns
from aidot.tuning._distributions import Distribution
from aidot.tuning._frozen import FrozenTrial, StudyDirection, TrialState, dominates
from aidot.tuning._storage import StudyRecord, TrialStore
from aidot.tuning._trial import Trial

if TYPE_CHECKING:
    import pandas as pd
    import sqlalchemy as sa

    from aidot.tracking import ExperimentTracker
    from aidot.tuning.pruners import BasePruner
    from aidot.tuning.samplers import HyperparameterOptimizer

_log = logging.getLogger("aidot.tuning")

Objective = Callable[[Trial], "float | Sequence[float]"]
"""What ``optimize`` calls: a trial in, the objective value(s) out."""

Callback = Callable[["Study", FrozenTrial], None]
"""Called after each trial with the study and the finished trial."""

DEFAULT_HEARTBEAT_TIMEOUT_S = 60.0
"""A RUNNING trial whose worker sent no heartbeat for this long is marked FAIL."""

_STALE_CHECK_INTERVAL_S = 1.0


class Study:
    """The trials of one optimization (Optuna's ``Study``); create it with
    :func:`aidot.create_study` or ``ws.create_study``.

    Every trial is stored as it goes and is a child run of the study's tracking run, so a
    study survives its process and several processes (or machines on PostgreSQL) can run
    :meth:`optimize` on it at once.
    """

    def __init__(
        self,
        record: StudyRecord,
        *,
        trial_store: TrialStore,
        tracker: ExperimentTracker,
        sampler: HyperparameterOptimizer,
        pruner: BasePruner,
        heartbeat_timeout: float,
    ) -> None:
        self._record = record
        self._trials_db = trial_store
        self._tracker = tracker
        self.sampler = sampler
        self.pruner = pruner
        self._heartbeat_timeout_ms = int(heartbeat_timeout * 1000)
        self._multi_objective = len(record.directions) > 1
        self._trials = TrialCache(lambda low: trial_store.fetch(record.id, low), record.directions)
        self._lock = self._trials.lock
        self._live: dict[int, Trial] = {}
        self._last_stale_check = 0.0
        self._stop = False
        self._context = json.dumps(_context())
        self._experiment_id = _experiment_of(tracker, record.run_id)

    def __repr__(self) -> str:
        return f"Study(study_name={self.study_name!r}, directions={self.directions})"

    # --- identity -------------------------------------------------------------------------

    @property
    def study_name(self) -> str:
        """The study's name, unique in the workspace."""
        return self._record.name

    @property
    def directions(self) -> list[StudyDirection]:
        """One direction per objective."""
        return list(self._record.directions)

    @property
    def direction(self) -> StudyDirection:
        """The direction of a single-objective study."""
        if self._multi_objective:
            raise InvalidArgumentError(
                "this study has several objectives; read study.directions instead"
            )
        return self._record.directions[0]

    @property
    def run_id(self) -> str | None:
        """The tracking run whose children are the trials' runs."""
        return self._record.run_id

    @property
    def user_attrs(self) -> dict[str, Any]:
        """Notes stored with the study (``set_user_attr``)."""
        return dict(self._trials_db.get_study(self.study_name).user_attrs)

    @property
    def system_attrs(self) -> dict[str, Any]:
        """aidot's notes about the study (metric names, heartbeat timeout...)."""
        return dict(self._trials_db.get_study(self.study_name).system_attrs)

    def set_user_attr(self, key: str, value: Any) -> None:
        """Stores a JSON-serialisable note with the study."""
        self._trials_db.set_study_attr(self._record.id, "user_attrs", key, value)

    @property
    def metric_names(self) -> list[str] | None:
        """Names of the objectives (``set_metric_names``), used for the trials' run metrics."""
        names = self._record.system_attrs.get("metric_names")
        return list(names) if names else None

    def set_metric_names(self, metric_names: list[str]) -> None:
        """Names the objectives: trial runs log their values under these metric names."""
        if len(metric_names) != len(self._record.directions):
            raise InvalidArgumentError(
                f"{len(metric_names)} metric names for {len(self._record.directions)} "
                "objectives; give one name per objective"
            )
        self._trials_db.set_study_attr(
            self._record.id, "system_attrs", "metric_names", metric_names
        )
        self._record.system_attrs["metric_names"] = list(metric_names)

    # --- trials ---------------------------------------------------------------------------

    def get_trials(
        self, deepcopy: bool = True, states: Container[TrialState] | None = None
    ) -> list[FrozenTrial]:
        """Every trial of the study so far (from every worker), oldest first; only those in
        ``states`` when given. With ``deepcopy=False`` the snapshots are shared: do not
        change them (samplers read trials this way)."""
        import copy

        found = self._trials.trials()
        if states is not None:
            found = [t for t in found if t.state in states]
        return copy.deepcopy(found) if deepcopy else found

    @property
    def trials(self) -> list[FrozenTrial]:
        """Every trial of the study so far, oldest first."""
        return self.get_trials()

    @property
    def best_trials(self) -> list[FrozenTrial]:
        """The COMPLETE, feasible trials no other such trial dominates (the Pareto front)."""
        done = self._feasible_complete()
        directions = self._record.directions
        return [
            t
            for t in done
            if not any(dominates(o.values, t.values, directions) for o in done if o is not t)  # type: ignore[arg-type]
        ]

    @property
    def best_trial(self) -> FrozenTrial:
        """The COMPLETE, feasible trial with the best value (single objective)."""
        if self._multi_objective:
            raise InvalidArgumentError(
                "a multi-objective study has no single best trial; read study.best_trials "
                "(the Pareto front)"
            )
        done = self._feasible_complete()
        if not done:
            raise NotFoundError(
                f"study {self.study_name!r} has no COMPLETE feasible trial yet; run "
                "study.optimize (or tell a trial its value) first"
            )
        sign = -1.0 if self._record.directions[0] is StudyDirection.MAXIMIZE else 1.0
        return min(done, key=lambda t: (sign * t.values[0], t.number))  # type: ignore[index]

    @property
    def best_value(self) -> float:
        """The best trial's value."""
        value = self.best_trial.value
        assert value is not None
        return value

    @property
    def best_params(self) -> dict[str, Any]:
        """The best trial's parameters."""
        return dict(self.best_trial.params)

    def _feasible_complete(self) -> list[FrozenTrial]:
        return [
            t for t in self.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)) if t.feasible
        ]

    def importance(
        self, params: Sequence[str] | None = None, *, target_index: int = 0
    ) -> dict[str, float]:
        """Each parameter's share of the objective's variance (summing to 1, largest first),
        from a random-forest surrogate of the COMPLETE trials; needs scikit-learn. See
        :func:`aidot.tuning.param_importances`."""
        from aidot.tuning._importance import param_importances

        return param_importances(self, params, target_index=target_index)

    def trials_dataframe(self) -> pd.DataFrame:
        """The trials as a pandas DataFrame, one row each, with Optuna's columns (``number``,
        ``value`` or ``values_0``..., ``datetime_start``, ``datetime_complete``, ``duration``,
        ``params_<name>``, ``user_attrs_<key>``, ``state``). Needs pandas."""
        try:
            import pandas as pd
        except ImportError:
            raise InvalidArgumentError(
                "trials_dataframe needs pandas: pip install pandas (or aidot[pandas])"
            ) from None
        rows = []
        names = self.metric_names
        for t in self.get_trials(deepcopy=False):
            row: dict[str, Any] = {"number": t.number}
            if self._multi_objective:
                for i in range(len(self._record.directions)):
                    key = f"values_{names[i]}" if names else f"values_{i}"
                    row[key] = None if t.values is None else t.values[i]
            else:
                row["value"] = None if t.values is None else t.values[0]
            row["datetime_start"] = t.datetime_start
            row["datetime_complete"] = t.datetime_complete
            row["duration"] = t.duration
            row.update({f"params_{k}": v for k, v in t.params.items()})
            row.update({f"user_attrs_{k}": v for k, v in t.user_attrs.items()})
            row["state"] = t.state.value
            rows.append(row)
        return pd.DataFrame(rows)

    # --- ask and tell ---------------------------------------------------------------------

    def ask(self, fixed_distributions: Mapping[str, Distribution] | None = None) -> Trial:
        """Starts a trial (the oldest enqueued one first). With ``fixed_distributions``, those
        parameters are suggested at once (define-and-run)."""
        self._fail_stale_trials()
        sampler = self.sampler
        reserve = None
        if type(sampler).reserve is not _base_reserve():
            reserve = lambda taken: sampler.reserve(self, taken)  # noqa: E731
        new = self._trials_db.create_trial(
            self._record.id, self._run_row, reserve, read_from=self._trials.low
        )
        run = self._tracker._adopt_run(new.run_id, self._experiment_id)
        trial = Trial(self, new, run)
        with self._lock:
            self._live[trial.number] = trial
            self._trials.absorb(new.changed)  # what other workers did, read with the new trial
        with self._trials.drawing(refresh=False):
            sampler.before_trial(self, trial)
        trial._fresh = True  # its draws use the trials just read
        for name, distribution in (fixed_distributions or {}).items():
            trial._suggest(name, distribution)
        return trial

    def tell(
        self,
        trial: Trial | int,
        values: float | Sequence[float] | None = None,
        state: TrialState | str | None = None,
        skip_if_finished: bool = False,
    ) -> FrozenTrial:
        """Finishes a trial from :meth:`ask`: COMPLETE with its value(s), or ``state`` PRUNED
        or FAIL. A value that is NaN, not a number, or the wrong count marks the trial FAIL
        with the reason (in ``system_attrs["fail_reason"]``) rather than raising."""
        live = self._live_trial(trial)
        if live is None:
            number = trial if isinstance(trial, int) else trial.number
            stored = self._stored_trial(number)
            if stored.state.is_finished() and skip_if_finished:
                return stored
            raise TrialFinishedError(
                f"trial {number} of study {self.study_name!r} is {stored.state.value}, or was "
                "asked by another process; tell a trial once, from the process that asked it"
            )
        final = TrialState(state) if state is not None else TrialState.COMPLETE
        if final in (TrialState.RUNNING, TrialState.WAITING):
            raise InvalidArgumentError(f"a trial ends COMPLETE, PRUNED or FAIL, not {final.value}")
        checked: list[float] | None = None
        if final is TrialState.COMPLETE:
            checked, reason = self._check_values(values)
            if reason is not None:
                final = TrialState.FAIL
                live.system_attrs["fail_reason"] = reason
                _log.warning("trial %d failed: %s", live.number, reason)
        elif final is TrialState.PRUNED and live._intermediate:
            checked = [live._intermediate[max(live._intermediate)]]
        return self._finish(live, final, checked)

    def enqueue_trial(
        self,
        params: Mapping[str, Any],
        user_attrs: Mapping[str, Any] | None = None,
        skip_if_exists: bool = False,
    ) -> None:
        """Queues a trial with fixed parameters (a known good configuration to warm-start
        from); the next worker to ask takes it first. With ``skip_if_exists``, a trial with
        the same parameters already in the study is not queued again."""
        if not isinstance(params, Mapping):
            raise InvalidArgumentError(f"enqueue_trial takes a dict of params, got {params!r}")
        fixed = dict(params)
        try:
            json.dumps(fixed)
        except (TypeError, ValueError):
            raise InvalidArgumentError(
                f"enqueued params must be JSON values (numbers, strings, bools, None): {fixed!r}"
            ) from None
        if skip_if_exists:
            for t in self.get_trials(deepcopy=False):
                if t.params == fixed or t.system_attrs.get("fixed_params") == fixed:
                    return
        self._trials_db.enqueue(self._record.id, fixed, dict(user_attrs or {}))

    # --- optimize -------------------------------------------------------------------------

    def optimize(  # noqa: PLR0917 - Optuna's signature, positional arguments included
        self,
        func: Objective,
        n_trials: int | None = None,
        timeout: float | None = None,
        n_jobs: int = 1,
        catch: Iterable[type[Exception]] | type[Exception] = (),
        callbacks: Iterable[Callback] | None = None,
        gc_after_trial: bool = False,
        show_progress_bar: bool = False,
    ) -> None:
        """Runs trials until ``n_trials`` ran here, ``timeout`` seconds passed, or
        :meth:`stop` is called; ``n_jobs`` threads at once (-1: one per CPU).

        An objective that raises ends its trial FAIL (with the reason) and the exception
        propagates unless it is one of ``catch``; :class:`~aidot.tuning.TrialPruned` ends it
        PRUNED. Without ``n_trials`` and ``timeout`` it runs until stopped or, for a grid
        search, until the grid is done. Asking for more trials than a grid has left raises
        :class:`~aidot.errors.GridExhaustedError` once the grid is done.
        """
        if n_trials is not None and (isinstance(n_trials, bool) or n_trials < 0):
            raise InvalidArgumentError(f"n_trials must be an int >= 0, got {n_trials!r}")
        if timeout is not None and not timeout > 0:
            raise InvalidArgumentError(
                f"timeout must be a positive number of seconds, got {timeout!r}"
            )
        jobs = (os.cpu_count() or 1) if n_jobs == -1 else n_jobs
        if jobs < 1:
            raise InvalidArgumentError(f"n_jobs must be -1 or >= 1, got {n_jobs}")
        caught = (catch,) if isinstance(catch, type) else tuple(catch)
        hooks = list(callbacks or ())
        deadline = None if timeout is None else time.monotonic() + timeout
        state = _Budget(n_trials, deadline)
        self._stop = False
        progress = _Progress(show_progress_bar, n_trials)

        def work() -> None:
            while not self._stop and state.take():
                try:
                    trial = self.ask()
                except GridExhaustedError:
                    state.exhausted = True
                    return
                frozen = self._run_trial(func, trial, caught)
                state.done()
                progress.advance(self, frozen)
                for hook in hooks:
                    hook(self, frozen)
                if gc_after_trial:
                    gc.collect()

        with progress:
            if jobs == 1:
                work()
            else:
                with ThreadPoolExecutor(jobs, thread_name_prefix="aidot-trial") as pool:
                    futures = [pool.submit(work) for _ in range(jobs)]
                    for future in futures:
                        future.result()
        if state.exhausted and n_trials is not None and state.ran < n_trials:
            raise GridExhaustedError(
                f"study {self.study_name!r}: every grid point is taken; {state.ran} of the "
                f"{n_trials} trials asked for ran here. Ask for fewer trials (or none: "
                "optimize() stops when the grid is done) or enlarge the grid"
            )

    def stop(self) -> None:
        """Makes :meth:`optimize` return after the trials now running (call it from a
        callback or the objective)."""
        self._stop = True

    def _run_trial(
        self, func: Objective, trial: Trial, catch: tuple[type[Exception], ...]
    ) -> FrozenTrial:
        try:
            result = func(trial)
        except TrialPruned:
            return self.tell(trial, state=TrialState.PRUNED)
        except Exception as exc:
            trial.system_attrs["fail_reason"] = f"{type(exc).__name__}: {exc}"
            frozen = self._finish(trial, TrialState.FAIL, None)
            if isinstance(exc, catch):
                _log.warning("trial %d failed: %s: %s", trial.number, type(exc).__name__, exc)
                return frozen
            raise
        except BaseException as exc:  # Ctrl-C: the trial ends, the interrupt goes on
            trial.system_attrs["fail_reason"] = f"interrupted ({type(exc).__name__})"
            self._finish(trial, TrialState.FAIL, None)
            raise
        return self.tell(trial, result)

    # --- internals ------------------------------------------------------------------------

    def _check_values(self, values: Any) -> tuple[list[float] | None, str | None]:
        expected = len(self._record.directions)
        if values is None:
            return None, "the objective returned no value (None)"
        items = (
            list(values)
            if isinstance(values, Sequence) and not isinstance(values, str)
            else [values]
        )
        if len(items) != expected:
            return None, (
                f"the objective returned {len(items)} values for a study with {expected} "
                "objective(s)"
            )
        checked = []
        for item in items:
            if isinstance(item, bool | str | bytes) or item is None:
                return (
                    None,
                    f"the objective returned {item!r} ({type(item).__name__}), not a number",
                )
            try:
                number = float(item)
            except (TypeError, ValueError):
                return (
                    None,
                    f"the objective returned {item!r} ({type(item).__name__}), not a number",
                )
            if math.isnan(number):
                return None, "the objective returned NaN"
            checked.append(number)
        return checked, None

    def _finish(self, trial: Trial, state: TrialState, values: list[float] | None) -> FrozenTrial:
        frozen = trial._snapshot(state, values)
        if state is TrialState.COMPLETE and self.sampler.constraints_func is not None:
            constraints = [float(c) for c in self.sampler.constraints_func(frozen)]
            trial.system_attrs["constraints"] = constraints
            frozen.system_attrs["constraints"] = constraints
        self.sampler.after_trial(self, frozen, state, values)
        end = now_ms()
        frozen.datetime_complete = utc_datetime(end)
        run = trial.run
        names = self.metric_names or (
            [f"value_{i}" for i in range(len(self._record.directions))]
            if self._multi_objective
            else ["value"]
        )
        if values is not None:
            for name, value in zip(names, values, strict=True):
                run.log_metric(name, value, step=trial.number)
        tags = {
            "aidot.study": self.study_name,
            "aidot.trial": trial.number,
            "aidot.trial_state": state.value,
        }
        status = "FAILED" if state is TrialState.FAIL else "FINISHED"

        def end_run(conn: sa.Connection) -> None:
            self._tracker._end_adopted_run(
                conn, run, status=status, params=trial.params, tags=tags, end_time=end
            )

        self._trials_db.write_trial(
            trial._id,
            trial.number,
            finish=end_run,
            state=state,
            values=values,
            params=trial._params,
            distributions=trial._distributions,
            intermediate=trial._intermediate,
            user_attrs=trial.user_attrs,
            system_attrs=trial.system_attrs,
            completed_at=end,
        )
        self._tracker._release_run(run)
        with self._lock:
            self._live.pop(trial.number, None)
            self._trials.absorb([frozen])  # so the next read skips this trial
        return frozen

    def _save_running(self, trial: Trial) -> None:
        self._trials_db.write_trial(
            trial._id,
            trial.number,
            params=trial._params,
            distributions=trial._distributions,
            intermediate=trial._intermediate,
            user_attrs=trial.user_attrs,
            system_attrs=trial.system_attrs,
        )

    def _run_row(self, number: int) -> dict[str, Any]:
        now = now_ms()
        return {
            "id": new_id(),
            "experiment_id": self._experiment_id,
            "name": f"{self.study_name}-trial-{number}",
            "status": "RUNNING",
            "parent_id": self._record.run_id,
            "start_time": now,
            "end_time": None,
            "heartbeat_at": now,
            "lifecycle": "active",
            "context": self._context,
        }

    def _finished_columns(self) -> TrialColumns | None:
        """The COMPLETE and PRUNED trials as columns (single-objective studies), as of the
        last read of the trials."""
        return self._trials.columns

    def _running_snapshots(self) -> list[FrozenTrial]:
        """The trials this process is running now, as they stand."""
        with self._lock:
            live = list(self._live.values())
        return [t._snapshot() for t in live]

    def _known_distribution(self, name: str) -> Distribution | None:
        return self._trials.known_distribution(name)

    def _live_trial(self, trial: Trial | int) -> Trial | None:
        number = trial if isinstance(trial, int) else trial.number
        with self._lock:
            live = self._live.get(number)
        if live is None or (isinstance(trial, Trial) and live is not trial):
            return None
        return live

    def _stored_trial(self, number: int) -> FrozenTrial:
        for t in self.get_trials(deepcopy=False):
            if t.number == number:
                return t
        raise NotFoundError(f"study {self.study_name!r} has no trial number {number}")

    def _fail_stale_trials(self) -> None:
        now = time.monotonic()
        if now - self._last_stale_check < _STALE_CHECK_INTERVAL_S:
            return
        self._last_stale_check = now
        for number in self._trials_db.fail_stale(self._record.id, self._heartbeat_timeout_ms):
            _log.warning(
                "study %r: trial %d failed, its worker stopped sending heartbeats",
                self.study_name,
                number,
            )


class _Budget:
    """How many trials may still start here, shared by the optimize threads."""

    def __init__(self, n_trials: int | None, deadline: float | None) -> None:
        self.n_trials = n_trials
        self.deadline = deadline
        self.started = 0
        self.ran = 0
        self.exhausted = False
        self._lock = threading.Lock()

    def take(self) -> bool:
        with self._lock:
            if self.exhausted:
                return False
            if self.n_trials is not None and self.started >= self.n_trials:
                return False
            if self.deadline is not None and time.monotonic() >= self.deadline:
                return False
            self.started += 1
            return True

    def done(self) -> None:
        with self._lock:
            self.ran += 1


class _Progress:
    """A rich progress bar over the trials, when asked for."""

    def __init__(self, enabled: bool, n_trials: int | None) -> None:
        self._bar: Any = None
        self._task: Any = None
        if enabled:
            from rich.progress import Progress

            self._bar = Progress(transient=False)
            self._task = self._bar.add_task("trials", total=n_trials)

    def __enter__(self) -> _Progress:
        if self._bar is not None:
            self._bar.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.stop()

    def advance(self, study: Study, trial: FrozenTrial) -> None:
        if self._bar is None:
            return
        description = f"trial {trial.number} {trial.state.value.lower()}"
        if not study._multi_objective:
            with contextlib.suppress(NotFoundError):
                description += f", best {study.best_value:.6g}"
        self._bar.update(self._task, advance=1, description=description)


def _base_reserve() -> Any:
    from aidot.tuning.samplers import HyperparameterOptimizer

    return HyperparameterOptimizer.reserve


def _context() -> dict[str, Any]:
    from aidot.tracking._context import capture_context

    return capture_context()


def _experiment_of(tracker: ExperimentTracker, run_id: str | None) -> str:
    if run_id is None:
        raise InvalidArgumentError("this study has no tracking run; recreate it")
    return tracker.get_run(run_id).experiment_id
