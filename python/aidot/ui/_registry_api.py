"""The model registry: models, versions with stages and aliases, the audit history, a
version's lineage as a graph, and the stage and alias actions."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aidot.ui._endpoint import ApiError, Call, Endpoint, Param

if TYPE_CHECKING:
    from aidot.registry import ModelVersion


def list_models(call: Call) -> Any:
    registry = call.ws.registry
    stages: dict[str, dict[str, int]] = {}
    for version in registry.search_versions():
        counts = stages.setdefault(version.name, {})
        counts[version.stage] = counts.get(version.stage, 0) + 1
    return [
        {
            "name": m.name,
            "description": m.description,
            "tags": m.tags,
            "created_at": m.created_at,
            "latest_version": m.latest_version,
            "stages": stages.get(m.name, {}),
        }
        for m in registry.list_models()
    ]


def get_model(call: Call) -> Any:
    registry = call.ws.registry
    name = call.args["name"]
    model = registry.get_model(name)
    return {
        "name": model.name,
        "description": model.description,
        "tags": model.tags,
        "created_at": model.created_at,
        "latest_version": model.latest_version,
        "versions": [_version_row(v) for v in registry.list_versions(name)],
        "history": [
            {
                "version": e.version,
                "event": e.event,
                "target": e.target,
                "previous": e.previous,
                "actor": e.actor,
                "comment": e.comment,
                "at": e.at,
            }
            for e in registry.history(name)
        ],
    }


def version_lineage(call: Call) -> Any:
    """The lineage as a graph: data -> run -> checkpoint -> version (-> the one replaced)."""
    name, number = call.args["name"], call.args["version"]
    lineage = call.ws.registry.lineage(f"models:/{name}/{number}")
    nodes: list[dict[str, Any]] = []
    edges: list[tuple[str, str]] = []
    version_id = f"version:{name}/{number}"
    nodes.append(
        {
            "id": version_id,
            "kind": "version",
            "label": f"{name} v{number}",
            "detail": lineage.version.stage,
        }
    )
    producer = version_id
    if lineage.checkpoint is not None:
        checkpoint_id = f"checkpoint:{lineage.checkpoint['id']}"
        step = lineage.checkpoint.get("step")
        nodes.append(
            {
                "id": checkpoint_id,
                "kind": "checkpoint",
                "label": f"checkpoint step {step}" if step is not None else "checkpoint",
                "detail": lineage.checkpoint.get("metrics", {}),
            }
        )
        edges.append((checkpoint_id, version_id))
        producer = checkpoint_id
    if lineage.run is not None:
        run_id = f"run:{lineage.run.id}"
        nodes.append(
            {"id": run_id, "kind": "run", "label": lineage.run.name, "detail": lineage.run.id}
        )
        edges.append((run_id, producer))
        for dataset in lineage.datasets:
            data_id = f"data:{dataset['ref']}"
            nodes.append(
                {
                    "id": data_id,
                    "kind": "data",
                    "label": dataset["ref"],
                    "detail": {"files": dataset["files"], "bytes": dataset["bytes"]},
                }
            )
            edges.append((data_id, run_id))
    if lineage.replaces is not None:
        replaced_id = f"version:{name}/{lineage.replaces}"
        nodes.append(
            {
                "id": replaced_id,
                "kind": "replaced",
                "label": f"{name} v{lineage.replaces}",
                "detail": "replaced",
            }
        )
        edges.append((version_id, replaced_id))
    return {
        "version": _version_row(lineage.version),
        "nodes": nodes,
        "edges": [{"from": a, "to": b} for a, b in edges],
    }


def transition_stage(call: Call) -> Any:
    stage = call.body.get("stage")
    if not isinstance(stage, str):
        raise ApiError(
            400,
            "the body needs 'stage': Development, Staging, Production or Archived",
            "bad_request",
        )
    version = call.ws.registry.transition_stage(
        call.args["name"],
        call.args["version"],
        stage,
        archive_existing=bool(call.body.get("archive_existing", False)),
        comment=str(call.body.get("comment", "")),
    )
    return _version_row(version)


def set_alias(call: Call) -> Any:
    alias, version = call.body.get("alias"), call.body.get("version")
    if (
        not isinstance(alias, str)
        or not isinstance(version, int)
        or isinstance(version, bool)
        or not 1 <= version < 2**31
    ):
        raise ApiError(
            400, "the body needs 'alias' (a string) and 'version' (a version number)", "bad_request"
        )
    call.ws.registry.set_alias(call.args["name"], alias, version)
    return _version_row(call.ws.registry.get_version(call.args["name"], version))


def delete_alias(call: Call) -> Any:
    call.ws.registry.delete_alias(call.args["name"], call.args["alias"])
    return {"deleted": call.args["alias"]}


def _version_row(v: ModelVersion) -> dict[str, Any]:
    return {
        "name": v.name,
        "version": v.version,
        "stage": v.stage,
        "aliases": v.aliases,
        "run_id": v.run_id,
        "format": v.source.get("format") or v.source.get("kind"),
        "metrics": v.metrics,
        "description": v.description,
        "tags": v.tags,
        "created_at": v.created_at,
        "signature": v.signature,
        "datasets": v.lineage.get("datasets", []),
    }


_NAME = Param("name", "The model's name", where="path")
_VERSION = Param("version", "The version number", where="path", kind=int, minimum=1)

ENDPOINTS = [
    Endpoint(
        "GET",
        "/api/models",
        list_models,
        "Registered models with version counts by stage",
        "registry",
        response={"type": "array"},
    ),
    Endpoint(
        "GET",
        "/api/models/{name}",
        get_model,
        "A model, its versions and its history",
        "registry",
        (_NAME,),
    ),
    Endpoint(
        "GET",
        "/api/models/{name}/versions/{version}/lineage",
        version_lineage,
        "A version's lineage as nodes and edges",
        "registry",
        (_NAME, _VERSION),
    ),
    Endpoint(
        "POST",
        "/api/models/{name}/versions/{version}/stage",
        transition_stage,
        "Moves a version to another stage",
        "registry",
        (_NAME, _VERSION),
        body={
            "type": "object",
            "properties": {
                "stage": {"enum": ["Development", "Staging", "Production", "Archived"]},
                "archive_existing": {"type": "boolean"},
                "comment": {"type": "string"},
            },
            "required": ["stage"],
        },
        writes=True,
    ),
    Endpoint(
        "POST",
        "/api/models/{name}/aliases",
        set_alias,
        "Points an alias at a version",
        "registry",
        (_NAME,),
        body={
            "type": "object",
            "properties": {"alias": {"type": "string"}, "version": {"type": "integer"}},
            "required": ["alias", "version"],
        },
        writes=True,
    ),
    Endpoint(
        "DELETE",
        "/api/models/{name}/aliases/{alias}",
        delete_alias,
        "Removes an alias",
        "registry",
        (_NAME, Param("alias", "The alias", where="path")),
        writes=True,
    ),
]
