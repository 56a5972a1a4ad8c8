"""Who may change the workspace through the UI: requests from loopback, or carrying the
configured token. Reads are open to whoever can reach the server."""

from __future__ import annotations

import hmac
import ipaddress
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from aidot.ui._endpoint import ApiError

if TYPE_CHECKING:
    from starlette.requests import Request


def check_write(request: Request, token: str | None) -> None:
    """Raises a 403 (or 415) :class:`ApiError` unless ``request`` may write."""
    # A page on another site can make the browser send simple requests (forms) to loopback,
    # so a write must be JSON (cross-site, that needs a CORS preflight we never answer) and,
    # when the browser names its origin, come from this server's own.
    if request.method == "POST" and not request.headers.get("content-type", "").startswith(
        "application/json"
    ):
        raise ApiError(415, "send the body as JSON (Content-Type: application/json)", "bad_request")
    origin = request.headers.get("origin")
    if origin and urlsplit(origin).netloc != request.headers.get("host"):
        raise ApiError(403, f"writes from another origin ({origin}) are refused", "forbidden")
    offered = _bearer(request)
    if token is not None and offered is not None:
        if hmac.compare_digest(offered, token):
            return
        raise ApiError(
            403, "the token does not match the one 'aidot ui --token' was given", "forbidden"
        )
    if is_loopback(request):
        return
    raise ApiError(
        403,
        "this UI is read-only from other machines; write from the machine it runs on, or "
        "start it with 'aidot ui --token TOKEN' (or $AIDOT_UI_TOKEN) and send "
        "'Authorization: Bearer TOKEN'",
        "forbidden",
    )


def _bearer(request: Request) -> str | None:
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None


def is_loopback(request: Request) -> bool:
    if request.client is None:
        return False
    try:
        return ipaddress.ip_address(request.client.host).is_loopback
    except ValueError:
        return False
