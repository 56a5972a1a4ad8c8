"""The web UI: runs, charts, studies, the registry, datasets and live serving metrics.

``aidot ui`` (or :func:`serve_ui`) serves a JSON API, described at ``/api/openapi.json``, and a
single-page app made of plain ES modules and a vendored charting library (uPlot, MIT): no
build step, nothing fetched from a CDN, works offline. Needs the ``ui`` extra
(``pip install 'aidot[ui]'``: Starlette and uvicorn).
"""

from __future__ import annotations

from aidot.ui._app import create_app
from aidot.ui._server import UIServer, serve_ui

__all__ = ["UIServer", "create_app", "serve_ui"]
