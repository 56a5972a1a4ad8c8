"""Datasets: versions, one version's files (paged) and the diff between two versions."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aidot.ui._endpoint import Call, Endpoint, Param

if TYPE_CHECKING:
    from aidot.data import DatasetVersion

FILES_LIMIT = 1000
"""The most files one page of a version's listing may ask for."""


def list_datasets(call: Call) -> Any:
    return [_version_row(v) for v in call.ws.data.list()]


def dataset_log(call: Call) -> Any:
    return [_version_row(v) for v in call.ws.data.log(call.args["name"])]


def version_files(call: Call) -> Any:
    """One page of a version's files, sorted by path, optionally under a folder prefix."""
    version = call.ws.data.get(f"{call.args['name']}@v{call.args['version']}")
    prefix = call.args["prefix"]
    paths = sorted(p for p in version.files if not prefix or p.startswith(prefix))
    offset, limit = call.args["offset"], min(call.args["limit"], FILES_LIMIT)
    files = version.files
    return {
        "version": _version_row(version),
        "total": len(paths),
        "offset": offset,
        "files": [
            {"path": p, "size": files[p].size, "digest": files[p].digest, "mode": files[p].mode}
            for p in paths[offset : offset + limit]
        ],
    }


def dataset_diff(call: Call) -> Any:
    """What changed from ``from`` to ``to`` (version numbers or tags)."""
    name = call.args["name"]
    old, new = _ref(name, call.args["from"]), _ref(name, call.args["to"])
    changes = call.ws.data.diff(old, new)
    return {
        "from": old,
        "to": new,
        "added": changes.added,
        "modified": changes.modified,
        "deleted": changes.deleted,
    }


def _ref(name: str, version: str) -> str:
    return f"{name}@v{version}" if version.isdigit() else f"{name}@{version}"


def _version_row(v: DatasetVersion) -> dict[str, Any]:
    return {
        "name": v.name,
        "version": v.version,
        "ref": v.ref,
        "message": v.message,
        "files": v.file_count,
        "bytes": v.bytes,
        "source": v.source,
        "created_at": v.created_at,
        "tags": v.tags,
    }


_NAME = Param("name", "The dataset's name", where="path")

ENDPOINTS = [
    Endpoint(
        "GET",
        "/api/datasets",
        list_datasets,
        "The latest version of every dataset",
        "datasets",
        response={"type": "array"},
    ),
    Endpoint(
        "GET",
        "/api/datasets/{name}",
        dataset_log,
        "A dataset's versions, newest first",
        "datasets",
        (_NAME,),
        response={"type": "array"},
    ),
    Endpoint(
        "GET",
        "/api/datasets/{name}/versions/{version}/files",
        version_files,
        "One page of a version's files",
        "datasets",
        (
            _NAME,
            Param("version", "The version number", where="path", kind=int, minimum=1),
            Param("prefix", "Only paths starting with this"),
            Param("offset", "Files to skip", kind=int, default=0, minimum=0),
            Param(
                "limit", f"Files per page (at most {FILES_LIMIT})", kind=int, default=200, minimum=1
            ),
        ),
    ),
    Endpoint(
        "GET",
        "/api/datasets/{name}/diff",
        dataset_diff,
        "Files added, modified and deleted between two versions",
        "datasets",
        (
            _NAME,
            Param("from", "The older version (number or tag)", required=True),
            Param("to", "The newer version (number or tag)", required=True),
        ),
    ),
]
