"""The UI's JSON API as a table of endpoints.

Each :class:`Endpoint` is both a Starlette route and an entry of the OpenAPI document, so the
two cannot drift apart. Handlers take a :class:`Call` (the workspace, the parsed arguments and
body) and return plain data; this module turns it into JSON, and aidot's errors into a JSON
error body with the right status.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from aidot import errors

if TYPE_CHECKING:
    from starlette.requests import Request
    from starlette.responses import Response

    from aidot.workspace import Workspace

_INT_MAX = 2**31 - 1
_KINDS: dict[type, str] = {str: "string", int: "integer", float: "number", bool: "boolean"}


@dataclass(frozen=True)
class Param:
    """A path or query parameter: parsed to ``kind``; a bad value is a 400 naming it."""

    name: str
    description: str
    where: Literal["path", "query"] = "query"
    kind: type = str
    default: Any = None
    required: bool = False
    minimum: int | None = None
    maximum: int | None = None
    """Integers default to at most 2**31 - 1: anything bigger is a mistake, and more than
    SQLite's integers hold."""

    def __post_init__(self) -> None:
        if self.kind is int and self.maximum is None:
            object.__setattr__(self, "maximum", _INT_MAX)


@dataclass(frozen=True)
class Call:
    """What a handler gets: the workspace, the parsed parameters and the JSON body."""

    ws: Workspace
    args: dict[str, Any]
    body: dict[str, Any]
    request: Request


@dataclass(frozen=True)
class Endpoint:
    """One route of the API. ``writes`` routes change the workspace and are guarded (see
    :mod:`aidot.ui._access`); ``body`` is the JSON schema of their request body."""

    method: str
    path: str
    handler: Callable[[Call], Any]
    summary: str
    tag: str
    params: tuple[Param, ...] = ()
    body: dict[str, Any] | None = None
    writes: bool = False
    response: dict[str, Any] = field(default_factory=lambda: {"type": "object"})


class ApiError(Exception):
    """An error the API answers with ``status`` and ``{"error": message, "kind": kind}``."""

    def __init__(self, status: int, message: str, kind: str) -> None:
        super().__init__(message)
        self.status = status
        self.kind = kind


# Most specific first: the first match decides the status.
_STATUS: tuple[tuple[type[Exception], int, str], ...] = (
    (errors.InvalidFilterError, 400, "bad_filter"),
    (errors.NotFoundError, 404, "not_found"),
    (errors.AlreadyExistsError, 409, "already_exists"),
    (errors.SchemaVersionError, 409, "newer_workspace"),
    (errors.InvalidArgumentError, 400, "bad_request"),
    (errors.IntegrityError, 500, "integrity"),
    (errors.StoreUnavailableError, 503, "store_unavailable"),
    (errors.AidotError, 500, "error"),
)


def api_error(exc: Exception) -> ApiError:
    """The answer to an exception a handler raised."""
    if isinstance(exc, ApiError):
        return exc
    for kind_of, status, kind in _STATUS:
        if isinstance(exc, kind_of):
            return ApiError(status, str(exc), kind)
    return ApiError(500, f"{type(exc).__name__}: {exc}", "internal")


def error_response(error: ApiError) -> Response:
    from starlette.responses import Response

    body = json.dumps({"error": str(error), "kind": error.kind})
    return Response(body, status_code=error.status, media_type="application/json")


def json_response(data: Any, status: int = 200) -> Response:
    """``data`` as JSON; NaN and infinities (which JSON lacks) become null."""
    from starlette.responses import Response

    body = json.dumps(finite(data), separators=(",", ":"), allow_nan=False)
    return Response(body, status_code=status, media_type="application/json")


def finite(data: Any) -> Any:
    """``data`` with every non-finite float replaced by None, ready for strict JSON."""
    if isinstance(data, float):
        return data if math.isfinite(data) else None
    if isinstance(data, Mapping):
        return {str(k): finite(v) for k, v in data.items()}
    if isinstance(data, (list, tuple)):
        return [finite(v) for v in data]
    return data


def parse_args(
    endpoint: Endpoint, path: Mapping[str, str], query: Mapping[str, str]
) -> dict[str, Any]:
    """The endpoint's parameters from the URL, converted; raises a 400 naming a bad one."""
    args: dict[str, Any] = {}
    for param in endpoint.params:
        source = path if param.where == "path" else query
        raw = source.get(param.name)
        if raw is None or (raw == "" and param.kind is not str):
            if param.required:
                raise ApiError(
                    400, f"missing the {param.where} parameter {param.name!r}", "bad_request"
                )
            args[param.name] = param.default
            continue
        args[param.name] = _convert(param, raw)
    return args


def _convert(param: Param, raw: str) -> Any:
    if param.kind is str:
        return raw
    if param.kind is bool:
        if raw.lower() in ("1", "true", "yes"):
            return True
        if raw.lower() in ("0", "false", "no"):
            return False
        raise ApiError(400, f"{param.name} must be true or false, got {raw!r}", "bad_request")
    try:
        value = param.kind(raw)
    except ValueError:
        raise ApiError(
            400, f"{param.name} must be {_KINDS[param.kind]}, got {raw!r}", "bad_request"
        ) from None
    if param.minimum is not None and value < param.minimum:
        raise ApiError(
            400, f"{param.name} must be at least {param.minimum}, got {raw!r}", "bad_request"
        )
    if param.maximum is not None and value > param.maximum:
        raise ApiError(
            400, f"{param.name} must be at most {param.maximum}, got {raw!r}", "bad_request"
        )
    return value


def openapi_document(endpoints: list[Endpoint], version: str) -> dict[str, Any]:
    """The OpenAPI 3.1 document describing ``endpoints``."""
    error_schema = {
        "type": "object",
        "properties": {"error": {"type": "string"}, "kind": {"type": "string"}},
        "required": ["error", "kind"],
    }
    paths: dict[str, dict[str, Any]] = {}
    for endpoint in endpoints:
        operation: dict[str, Any] = {
            "summary": endpoint.summary,
            "tags": [endpoint.tag],
            "operationId": endpoint.handler.__name__,
            "parameters": [_param_spec(p) for p in endpoint.params],
            "responses": {
                "200": {
                    "description": "OK",
                    "content": {"application/json": {"schema": endpoint.response}},
                },
                "400": _error_reply("Bad parameter or body", error_schema),
                "404": _error_reply("Not found", error_schema),
            },
        }
        if endpoint.writes:
            operation["responses"]["403"] = _error_reply(
                "Writes refused: not on loopback and no valid token", error_schema
            )
            operation["security"] = [{}, {"token": []}]
        if endpoint.body is not None:
            operation["requestBody"] = {
                "required": True,
                "content": {"application/json": {"schema": endpoint.body}},
            }
        paths.setdefault(endpoint.path, {})[endpoint.method.lower()] = operation
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "aidot UI API",
            "version": version,
            "description": "The JSON API behind `aidot ui`: runs, studies, the model "
            "registry, datasets and a proxy to a serving process's metrics.",
        },
        "paths": paths,
        "components": {
            "securitySchemes": {"token": {"type": "http", "scheme": "bearer"}},
            "schemas": {"Error": error_schema},
        },
    }


def _param_spec(param: Param) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": _KINDS[param.kind]}
    if param.default is not None:
        schema["default"] = param.default
    if param.minimum is not None:
        schema["minimum"] = param.minimum
    if param.maximum is not None:
        schema["maximum"] = param.maximum
    return {
        "name": param.name,
        "in": param.where,
        "required": param.where == "path" or param.required,
        "description": param.description,
        "schema": schema,
    }


def _error_reply(description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}
