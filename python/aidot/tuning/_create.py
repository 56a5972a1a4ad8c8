"""Creating, loading and listing studies in a workspace."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from aidot._ids import new_id, now_ms
from aidot.errors import AlreadyExistsError, InvalidArgumentError
from aidot.tuning._frozen import StudyDirection
from aidot.tuning._specs import pruner_from_spec, pruner_spec, sampler_from_spec, sampler_spec
from aidot.tuning._storage import StudyRecord, TrialStore
from aidot.tuning._study import DEFAULT_HEARTBEAT_TIMEOUT_S, Study

if TYPE_CHECKING:
    from aidot.tuning.pruners import BasePruner
    from aidot.tuning.samplers import HyperparameterOptimizer
    from aidot.workspace import Workspace


def create_study(
    workspace: Workspace,
    *,
    study_name: str | None = None,
    direction: StudyDirection | str | None = None,
    directions: Sequence[StudyDirection | str] | None = None,
    sampler: HyperparameterOptimizer | None = None,
    pruner: BasePruner | None = None,
    load_if_exists: bool = False,
    experiment: str | None = None,
    heartbeat_timeout: float | None = None,
) -> Study:
    """See :meth:`aidot.Workspace.create_study`."""
    wanted = _directions(direction, directions)
    name = study_name if study_name is not None else f"study-{new_id()[-10:]}"
    _check_name(name)
    store = TrialStore(workspace.store)
    tracker = workspace.tracker
    timeout = _timeout(heartbeat_timeout)
    try:
        if load_if_exists:
            existing = store.get_study(name)
            return _open(workspace, existing, sampler, pruner, heartbeat_timeout)
    except LookupError:
        pass
    exp = tracker._experiment_for_run(experiment or name)
    chosen_sampler = sampler if sampler is not None else _default_sampler(wanted)
    chosen_pruner = pruner if pruner is not None else _default_pruner()
    now = now_ms()
    run_row = {
        "id": new_id(),
        "experiment_id": exp.id,
        "name": name,
        "status": "FINISHED",
        "parent_id": None,
        "start_time": now,
        "end_time": now,
        "heartbeat_at": now,
        "lifecycle": "active",
        "context": json.dumps({}),
    }
    system_attrs: dict[str, Any] = {
        "heartbeat_timeout": timeout,
        "sampler": sampler_spec(chosen_sampler),
        "pruner": pruner_spec(chosen_pruner),
    }
    try:
        record = store.create_study(name, wanted, system_attrs, run_row)
    except AlreadyExistsError:
        if not load_if_exists:
            raise
        return _open(workspace, store.get_study(name), sampler, pruner, heartbeat_timeout)
    assert record.run_id is not None
    tracker._log_params(
        record.run_id,
        {
            "sampler": type(chosen_sampler).__name__,
            "pruner": type(chosen_pruner).__name__,
            "directions": ",".join(d.value for d in wanted),
        },
        {},
    )
    tracker._set_tags(record.run_id, {"aidot.study": name})
    return Study(
        record,
        trial_store=store,
        tracker=tracker,
        sampler=chosen_sampler,
        pruner=chosen_pruner,
        heartbeat_timeout=timeout,
    )


def load_study(
    workspace: Workspace,
    *,
    study_name: str,
    sampler: HyperparameterOptimizer | None = None,
    pruner: BasePruner | None = None,
    heartbeat_timeout: float | None = None,
) -> Study:
    """See :meth:`aidot.Workspace.load_study`."""
    record = TrialStore(workspace.store).get_study(study_name)
    return _open(workspace, record, sampler, pruner, heartbeat_timeout)


def _open(
    workspace: Workspace,
    record: StudyRecord,
    sampler: HyperparameterOptimizer | None,
    pruner: BasePruner | None,
    heartbeat_timeout: float | None,
) -> Study:
    stored = float(record.system_attrs.get("heartbeat_timeout", DEFAULT_HEARTBEAT_TIMEOUT_S))
    timeout = stored if heartbeat_timeout is None else _timeout(heartbeat_timeout)
    return Study(
        record,
        trial_store=TrialStore(workspace.store),
        tracker=workspace.tracker,
        sampler=sampler
        or sampler_from_spec(record.system_attrs.get("sampler"))
        or _default_sampler(record.directions),
        pruner=pruner or pruner_from_spec(record.system_attrs.get("pruner")) or _default_pruner(),
        heartbeat_timeout=timeout,
    )


def _default_sampler(directions: list[StudyDirection]) -> HyperparameterOptimizer:
    from aidot.tuning.samplers import AutoSampler

    return AutoSampler()


def _default_pruner() -> BasePruner:
    from aidot.tuning.pruners import MedianPruner

    return MedianPruner()


def _directions(
    direction: StudyDirection | str | None, directions: Sequence[StudyDirection | str] | None
) -> list[StudyDirection]:
    if direction is not None and directions is not None:
        raise InvalidArgumentError("pass direction= or directions=, not both")
    given = [direction] if directions is None else list(directions)
    if not given:
        raise InvalidArgumentError("directions= needs at least one direction")
    out = []
    for d in given:
        if d is None:
            out.append(StudyDirection.MINIMIZE)
            continue
        text = d.value if isinstance(d, StudyDirection) else str(d).upper()
        try:
            out.append(StudyDirection(text))
        except ValueError:
            raise InvalidArgumentError(
                f"direction must be 'minimize' or 'maximize', got {d!r}"
            ) from None
    return out


def _timeout(value: float | None) -> float:
    if value is None:
        return DEFAULT_HEARTBEAT_TIMEOUT_S
    if not value > 0:
        raise InvalidArgumentError(f"heartbeat_timeout must be > 0 seconds, got {value!r}")
    return float(value)


def _check_name(name: object) -> None:
    if not isinstance(name, str) or not name.strip() or len(name) > 255:
        raise InvalidArgumentError(
            f"a study name must be a non-empty string of at most 255 characters, got {name!r}"
        )
