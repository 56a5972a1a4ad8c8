"""Experiments, runs, metric series and artifacts, as the runs table and run page read them."""

from __future__ import annotations

import mimetypes
from pathlib import PurePosixPath
from typing import TYPE_CHECKING, Any

from aidot.errors import NotFoundError
from aidot.ui._endpoint import ApiError, Call, Endpoint, Param

if TYPE_CHECKING:
    from starlette.responses import Response

    from aidot.tracking import RunInfo

PAGE_LIMIT = 500
"""The most runs one page of the runs table may ask for."""
MAX_CHART_POINTS = 20_000


def list_experiments(call: Call) -> Any:
    tracker = call.ws.tracker
    return [
        {
            "id": e.id,
            "name": e.name,
            "lifecycle": e.lifecycle,
            "created_at": e.created_at,
            "runs": tracker.count_runs(e.id),
        }
        for e in tracker.list_experiments()
    ]


def experiment_columns(call: Call) -> Any:
    return call.ws.tracker.run_keys(call.args["experiment"])


def search_runs(call: Call) -> Any:
    """One page of runs, filtered and sorted in SQL, with the total for the pager."""
    args = call.args
    tracker = call.ws.tracker
    experiments = args["experiment"] or None
    order_by = [args["order_by"]] if args["order_by"] else None
    limit = min(args["limit"], PAGE_LIMIT)
    found = tracker.search_runs(experiments, args["filter"], order_by, limit, args["offset"])
    return {
        "total": tracker.count_runs(experiments, args["filter"]),
        "offset": args["offset"],
        "runs": [_run_row(info) for info in found],
    }


def get_run(call: Call) -> Any:
    """Everything the run page shows, but the series themselves."""
    ws = call.ws
    run_id = call.args["run_id"]
    info = ws.tracker.get_run(run_id)
    experiment = ws.tracker.get_experiment(info.experiment_id)
    inputs = [
        {"ref": d.ref, "files": d.file_count, "bytes": d.bytes, "created_at": d.created_at}
        for d in ws.data.used_by(run_id)
    ]
    checkpoints = [
        {
            "id": c.id,
            "step": c.step,
            "epoch": c.epoch,
            "metrics": c.metrics,
            "created_at": c.created_at,
            "size": c.size,
        }
        for c in ws.tracker.list_checkpoints(run_id)
    ]
    versions = [
        {"name": v.name, "version": v.version, "stage": v.stage, "aliases": v.aliases}
        for v in ws.registry.search_versions(f"run_id = '{run_id}'")
    ]
    children = ws.tracker.count_runs(info.experiment_id, f"attributes.parent_id = '{run_id}'")
    return {
        **_run_row(info),
        "experiment": {"id": experiment.id, "name": experiment.name},
        "context": info.context,
        "inputs": inputs,
        "checkpoints": checkpoints,
        "model_versions": versions,
        "children": children,
    }


def metric_history(call: Call) -> Any:
    """A series, downsampled (min, max and last per bucket) to ``max_points``."""
    max_points = min(call.args["max_points"], MAX_CHART_POINTS)
    history = call.ws.tracker.get_metric_history(call.args["run_id"], call.args["key"], max_points)
    reply: dict[str, Any] = {
        "key": history.key,
        "total_points": history.total_points or len(history),
        "downsampled": history.downsampled,
        "steps": history.steps.tolist(),
        "values": history.values.tolist(),
        "timestamps": history.timestamps.tolist(),
    }
    if history.mins is not None and history.maxs is not None:
        reply["mins"] = history.mins.tolist()
        reply["maxs"] = history.maxs.tolist()
    return reply


def list_artifacts(call: Call) -> Any:
    return [
        {"path": a.path, "size": a.size, "digest": a.digest}
        for a in call.ws.tracker.list_artifacts(call.args["run_id"])
    ]


def artifact_content(call: Call) -> Response:
    """The bytes of one artifact file, typed by its name; ``download`` makes it a download."""
    from starlette.responses import FileResponse, Response

    run_id, path = call.args["run_id"], call.args["path"]
    entries = [a for a in call.ws.tracker.list_artifacts(run_id, path) if a.path == path]
    if not entries:
        raise NotFoundError(f"run {run_id} has no artifact file {path!r}")
    (entry,) = entries
    media_type = mimetypes.guess_type(path)[0] or "application/octet-stream"
    if media_type.startswith("text/") or media_type in ("application/json",):
        media_type += "; charset=utf-8"
    name = PurePosixPath(path).name
    disposition = "attachment" if call.args["download"] else "inline"
    headers = {
        "Content-Disposition": f"{disposition}; filename*=UTF-8''{_quote(name)}",
        "X-Content-Type-Options": "nosniff",
        # An artifact is whatever a run logged: never let it run script in the UI's origin.
        "Content-Security-Policy": "sandbox",
    }
    whole = call.ws.blobs.whole_path(entry.digest)
    if whole is not None:
        return FileResponse(whole, media_type=media_type, headers=headers)
    return Response(call.ws.blobs.get_bytes(entry.digest), media_type=media_type, headers=headers)


def set_run_tag(call: Call) -> Any:
    run_id = call.args["run_id"]
    key, value = _required_text(call.body, "key"), _required_text(call.body, "value")
    tracker = call.ws.tracker
    tracker.set_tag(run_id, key, value)
    return {"run_id": run_id, "tags": tracker.get_run(run_id).tags}


def delete_run(call: Call) -> Any:
    call.ws.tracker.delete_run(call.args["run_id"])
    return {"run_id": call.args["run_id"], "lifecycle": "deleted"}


def restore_run(call: Call) -> Any:
    call.ws.tracker.restore_run(call.args["run_id"])
    return {"run_id": call.args["run_id"], "lifecycle": "active"}


def _run_row(info: RunInfo) -> dict[str, Any]:
    return {
        "id": info.id,
        "experiment_id": info.experiment_id,
        "name": info.name,
        "status": info.status.value,
        "lifecycle": info.lifecycle,
        "parent_id": info.parent_id,
        "start_time": info.start_time,
        "end_time": info.end_time,
        "params": info.params,
        "metrics": info.metrics,
        "tags": info.tags,
    }


def _required_text(body: dict[str, Any], name: str) -> str:
    value = body.get(name)
    if not isinstance(value, str) or not value:
        raise ApiError(400, f"the body needs a non-empty string {name!r}", "bad_request")
    return value


def _quote(name: str) -> str:
    from urllib.parse import quote

    return quote(name, safe="")


_RUN_ID = Param("run_id", "The run's id", where="path")

ENDPOINTS = [
    Endpoint(
        "GET",
        "/api/experiments",
        list_experiments,
        "Experiments with run counts",
        "runs",
        response={"type": "array"},
    ),
    Endpoint(
        "GET",
        "/api/experiments/{experiment}/columns",
        experiment_columns,
        "Param, metric and tag keys of an experiment's runs (the column picker)",
        "runs",
        (Param("experiment", "Experiment id or name", where="path"),),
    ),
    Endpoint(
        "GET",
        "/api/runs",
        search_runs,
        "One page of runs, filtered and sorted as search_runs does",
        "runs",
        (
            Param("experiment", "Experiment id or name (default: every active one)"),
            Param("filter", "MLflow filter: metrics.loss < 0.1 and params.lr = '0.01'"),
            Param("order_by", "ENTITY.KEY [ASC|DESC], e.g. metrics.loss ASC"),
            Param("offset", "Runs to skip", kind=int, default=0, minimum=0),
            Param(
                "limit", f"Runs per page (at most {PAGE_LIMIT})", kind=int, default=50, minimum=1
            ),
        ),
    ),
    Endpoint(
        "GET",
        "/api/runs/{run_id}",
        get_run,
        "A run: params, tags, context, inputs, checkpoints and registered versions",
        "runs",
        (_RUN_ID,),
    ),
    Endpoint(
        "GET",
        "/api/runs/{run_id}/metric",
        metric_history,
        "A metric series, downsampled to max_points (min, max and last per bucket)",
        "runs",
        (
            _RUN_ID,
            Param("key", "The metric's key", required=True),
            Param("max_points", "Most points returned", kind=int, default=2000, minimum=2),
        ),
    ),
    Endpoint(
        "GET",
        "/api/runs/{run_id}/artifacts",
        list_artifacts,
        "A run's artifact files",
        "runs",
        (_RUN_ID,),
        response={"type": "array"},
    ),
    Endpoint(
        "GET",
        "/api/runs/{run_id}/artifact",
        artifact_content,
        "One artifact file's bytes (inline, or as a download)",
        "runs",
        (
            _RUN_ID,
            Param("path", "The artifact's path", required=True),
            Param("download", "Send as an attachment", kind=bool, default=False),
        ),
        response={"type": "string", "format": "binary"},
    ),
    Endpoint(
        "POST",
        "/api/runs/{run_id}/tags",
        set_run_tag,
        "Sets a tag on a run",
        "runs",
        (_RUN_ID,),
        body={
            "type": "object",
            "properties": {"key": {"type": "string"}, "value": {"type": "string"}},
            "required": ["key", "value"],
        },
        writes=True,
    ),
    Endpoint(
        "DELETE",
        "/api/runs/{run_id}",
        delete_run,
        "Deletes a run: hidden from tables and searches, its data kept (restorable)",
        "runs",
        (_RUN_ID,),
        writes=True,
    ),
    Endpoint(
        "POST",
        "/api/runs/{run_id}/restore",
        restore_run,
        "Restores a deleted run",
        "runs",
        (_RUN_ID,),
        body={"type": "object"},
        writes=True,
    ),
]
