"""A running aidot inference server's live metrics, fetched through the UI's own origin (the
inference server sends no CORS headers, and needs none)."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any
from urllib.parse import urlsplit

from aidot.ui._endpoint import ApiError, Call, Endpoint, Param

_TIMEOUT_S = 3.0


def serving_metrics(call: Call) -> Any:
    """``GET {url}/api/inference/metrics`` of the server at ``url``."""
    base = call.args["url"].strip().rstrip("/")
    parts = urlsplit(base)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ApiError(
            400,
            f"{call.args['url']!r} is not a server URL; give its http:// address, as "
            "'aidot serve' or server.url prints it (e.g. http://127.0.0.1:8000)",
            "bad_request",
        )
    target = f"{parts.scheme}://{parts.netloc}{parts.path}/api/inference/metrics"
    try:
        with urllib.request.urlopen(target, timeout=_TIMEOUT_S) as reply:
            data = json.load(reply)
    except urllib.error.HTTPError as exc:
        raise ApiError(
            502, f"{target} answered {exc.code}; is this an aidot inference server?", "upstream"
        ) from None
    except (OSError, ValueError) as exc:
        raise ApiError(
            502,
            f"could not read {target}: {exc}; is the server running at that address?",
            "upstream",
        ) from None
    if not isinstance(data, dict) or "models" not in data:
        raise ApiError(502, f"{target} did not answer with aidot's metrics", "upstream")
    return data


ENDPOINTS = [
    Endpoint(
        "GET",
        "/api/serving/metrics",
        serving_metrics,
        "Live metrics of the aidot inference server at url (latency percentiles, "
        "throughput, batch sizes, queue depth)",
        "serving",
        (Param("url", "The server's base URL, e.g. http://127.0.0.1:8000", required=True),),
    ),
]
