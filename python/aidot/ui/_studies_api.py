"""Tuning studies: the list, one study's trials (history and parallel coordinates are drawn
from them in the browser) and parameter importance."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aidot.errors import NotFoundError
from aidot.ui._endpoint import Call, Endpoint, Param

if TYPE_CHECKING:
    from aidot.tuning import FrozenTrial, Study


def list_studies(call: Call) -> Any:
    rows = []
    for name in call.ws.study_names():
        study = call.ws.load_study(name)
        trials = study.trials
        states: dict[str, int] = {}
        for trial in trials:
            states[trial.state.name] = states.get(trial.state.name, 0) + 1
        rows.append(
            {
                "name": name,
                "directions": [d.name for d in study.directions],
                "trials": len(trials),
                "states": states,
                "best_values": _best_values(study),
                "run_id": study.run_id,
            }
        )
    return rows


def get_study(call: Call) -> Any:
    study = _load(call)
    trials = study.trials
    param_names = sorted({name for t in trials for name in t.params})
    best = {t.number for t in _best_trials(study)}
    return {
        "name": study.study_name,
        "directions": [d.name for d in study.directions],
        "metric_names": study.metric_names,
        "run_id": study.run_id,
        "user_attrs": study.user_attrs,
        "sampler": study.system_attrs.get("sampler"),
        "pruner": study.system_attrs.get("pruner"),
        "param_names": param_names,
        "best_values": _best_values(study),
        "trials": [_trial_row(t, t.number in best) for t in trials],
    }


def study_importance(call: Call) -> Any:
    study = _load(call)
    if not any(t.state.name == "COMPLETE" for t in study.trials):
        return {"importance": {}, "note": "no finished trial yet"}
    return {"importance": study.importance(), "note": ""}


def _load(call: Call) -> Study:
    name = call.args["name"]
    if name not in call.ws.study_names():
        raise NotFoundError(f"no study named {name!r}; list them with aidot studies ls")
    return call.ws.load_study(name)


def _best_trials(study: Study) -> list[FrozenTrial]:
    return study.best_trials if len(study.directions) > 1 else _single_best(study)


def _single_best(study: Study) -> list[FrozenTrial]:
    try:
        return [study.best_trial]
    except (ValueError, LookupError):
        return []


def _best_values(study: Study) -> list[float] | None:
    best = _best_trials(study)
    if len(study.directions) == 1 and best:
        return best[0].values
    return None


def _trial_row(trial: FrozenTrial, best: bool) -> dict[str, Any]:
    duration = trial.duration
    return {
        "number": trial.number,
        "state": trial.state.name,
        "values": trial.values,
        "params": {k: _plain(v) for k, v in trial.params.items()},
        "intermediate": [
            [step, value] for step, value in sorted(trial.intermediate_values.items())
        ],
        "start": trial.datetime_start.timestamp() * 1000 if trial.datetime_start else None,
        "duration_s": duration.total_seconds() if duration is not None else None,
        "run_id": trial.run_id,
        "best": best,
    }


def _plain(value: Any) -> Any:
    return value if isinstance(value, (str, int, float, bool)) or value is None else str(value)


_NAME = Param("name", "The study's name", where="path")

ENDPOINTS = [
    Endpoint(
        "GET",
        "/api/studies",
        list_studies,
        "Studies with trial counts and best values",
        "studies",
        response={"type": "array"},
    ),
    Endpoint(
        "GET", "/api/studies/{name}", get_study, "A study and all its trials", "studies", (_NAME,)
    ),
    Endpoint(
        "GET",
        "/api/studies/{name}/importance",
        study_importance,
        "Parameter importance (random-forest surrogate; needs scikit-learn)",
        "studies",
        (_NAME,),
    ),
]
