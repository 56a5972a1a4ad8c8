"""The UI's ASGI application: the JSON API from the endpoint tables, the OpenAPI document,
the static single-page app, and the page itself for every other path (the app routes in the
browser)."""

from __future__ import annotations

import json
import os
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aidot.ui import _data_api, _registry_api, _runs_api, _serving_api, _studies_api
from aidot.ui._access import check_write
from aidot.ui._endpoint import (
    ApiError,
    Call,
    Endpoint,
    api_error,
    error_response,
    json_response,
    openapi_document,
    parse_args,
)

if TYPE_CHECKING:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response

    from aidot.workspace import Workspace


def about(call: Call) -> dict[str, Any]:
    """The library version, the workspace, whether this client may write, and why the
    workspace cannot be read, if it cannot (a newer aidot wrote it, say)."""
    from aidot import __version__
    from aidot.store._engine import masked_uri
    from aidot.ui._access import is_loopback

    problem = None
    try:
        call.ws.store  # noqa: B018 - opens (and checks the schema of) the database
    except Exception as exc:
        problem = api_error(exc)
    loopback = is_loopback(call.request)
    return {
        "version": __version__,
        "workspace": {"db": masked_uri(call.ws.db_uri), "blobs": str(call.ws.blob_root)},
        "writable": loopback,
        "token_accepted": call.request.app.state.token is not None,
        "problem": None if problem is None else {"error": str(problem), "kind": problem.kind},
    }


ENDPOINTS: list[Endpoint] = [
    Endpoint(
        "GET",
        "/api/about",
        about,
        "Library version, workspace, whether this client may write, and any problem opening "
        "the workspace (e.g. written by a newer aidot)",
        "about",
    ),
    *_runs_api.ENDPOINTS,
    *_studies_api.ENDPOINTS,
    *_registry_api.ENDPOINTS,
    *_data_api.ENDPOINTS,
    *_serving_api.ENDPOINTS,
]

# The page and its modules are our own files; nothing is fetched from elsewhere.
_CSP = (
    "default-src 'self'; img-src 'self' data: blob:; style-src 'self' 'unsafe-inline'; "
    "connect-src 'self'; frame-ancestors 'none'"
)


def static_dir() -> Path:
    """The folder of the single-page app's files, inside the installed package."""
    return Path(str(resources.files("aidot.ui") / "static"))


def create_app(workspace: Workspace, *, token: str | None = None) -> Starlette:
    """The UI for ``workspace`` as an ASGI app (serve it with uvicorn, or :func:`serve_ui`).

    Writes (stage changes, aliases, tags) are accepted from loopback, or from anywhere with
    ``Authorization: Bearer TOKEN`` when ``token`` (default ``$AIDOT_UI_TOKEN``) is set.
    """
    from starlette.applications import Starlette
    from starlette.routing import Mount, Route
    from starlette.staticfiles import StaticFiles

    from aidot import __version__

    token = token if token is not None else os.environ.get("AIDOT_UI_TOKEN") or None
    openapi = openapi_document(ENDPOINTS, __version__)
    index = (static_dir() / "index.html").read_bytes()

    def route(endpoint: Endpoint) -> Route:
        async def handle(request: Request) -> Response:
            from starlette.concurrency import run_in_threadpool
            from starlette.responses import Response

            try:
                if endpoint.writes:
                    check_write(request, request.app.state.token)
                args = parse_args(endpoint, request.path_params, request.query_params)
                body = await _json_body(request) if endpoint.body is not None else {}
                result = await run_in_threadpool(
                    endpoint.handler, Call(workspace, args, body, request)
                )
            except Exception as exc:
                return error_response(api_error(exc))
            return result if isinstance(result, Response) else json_response(result)

        return Route(endpoint.path, handle, methods=[endpoint.method])

    async def openapi_json(request: Request) -> Response:
        return json_response(openapi)

    async def page(request: Request) -> Response:
        from starlette.responses import Response

        return Response(
            index,
            media_type="text/html; charset=utf-8",
            headers={"Content-Security-Policy": _CSP, "Cache-Control": "no-cache"},
        )

    async def api_not_found(request: Request) -> Response:
        return error_response(
            ApiError(404, f"no API route {request.url.path}; see /api/openapi.json", "not_found")
        )

    routes = [
        Route("/api/openapi.json", openapi_json, methods=["GET"]),
        *[route(e) for e in ENDPOINTS],
        Route("/api/{rest:path}", api_not_found, methods=["GET", "POST", "DELETE", "PUT"]),
        Mount("/static", StaticFiles(directory=static_dir()), name="static"),
        Route("/{rest:path}", page, methods=["GET"]),
    ]
    app = Starlette(routes=routes)
    app.state.token = token
    return app


async def _json_body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    try:
        body = json.loads(raw or b"{}")
    except ValueError as exc:
        raise ApiError(400, f"the body is not valid JSON: {exc}", "bad_request") from None
    if not isinstance(body, dict):
        raise ApiError(400, "the body must be a JSON object", "bad_request")
    return body
