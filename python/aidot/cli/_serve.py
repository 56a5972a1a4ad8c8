"""``aidot serve``: serve a registered model over HTTP until interrupted."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
from pathlib import Path

import click

from aidot.cli._common import console, open_workspace, reports_errors, workspace_option


@click.command("serve")
@click.argument("uri")
@click.option("--name", default=None, help="Name to serve it as [default: the model's name].")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind.")
@click.option("--port", default=8000, show_default=True, help="Port to bind (0: any free one).")
@click.option("--max-batch-size", default=64, show_default=True, help="Most rows per call.")
@click.option(
    "--max-delay-ms",
    default=0.0,
    show_default=True,
    help="How long a batch may wait for more rows (0: never hold a request back).",
)
@click.option("--queue-capacity", default=4096, show_default=True, help="Rows that may wait.")
@click.option(
    "--follow",
    default=None,
    help="A stage or alias to follow: swap in its new version when it moves.",
)
@click.option(
    "--token",
    envvar="AIDOT_SERVE_TOKEN",
    default=None,
    help="Bearer token for the load/unload routes [env: AIDOT_SERVE_TOKEN].",
)
@click.option(
    "--workers",
    default=1,
    show_default=True,
    help="Processes sharing the port (SO_REUSEPORT), so Python models use every core.",
)
@click.option("--trust", is_flag=True, help="Allow pickled (cloudpickle) models to load.")
@click.option("--reuse-port", "reuse_port", is_flag=True, hidden=True)
@workspace_option
@reports_errors
def serve_command(
    uri: str,
    name: str | None,
    host: str,
    port: int,
    max_batch_size: int,
    max_delay_ms: float,
    queue_capacity: int,
    follow: str | None,
    token: str | None,
    workers: int,
    trust: bool,
    reuse_port: bool,
    workspace: Path | None,
) -> None:
    """Serve the model at URI (models:/NAME/3, models:/NAME@Production) over HTTP.

    Routes: POST /api/inference/predict/NAME, the Open Inference Protocol v2 under /v2,
    GET /metrics (Prometheus), GET /healthz, GET /openapi.json. Ctrl-C stops after the
    requests in flight are answered. Load-test it with wrk (see docs/serving.md).
    """
    from aidot.errors import InvalidArgumentError
    from aidot.registry._uri import parse
    from aidot.serving import ModelRepository, Server

    if workers < 1:
        raise InvalidArgumentError(f"--workers must be at least 1, not {workers}")
    if workers > 1 and port == 0:
        raise InvalidArgumentError("--workers needs a fixed --port that every process binds")
    ws = open_workspace(workspace)
    repository = ModelRepository(ws.registry)
    served_as = name or parse(uri).name
    info = repository.load(
        served_as,
        uri,
        max_batch_size=max_batch_size,
        max_delay_ms=max_delay_ms,
        queue_capacity=queue_capacity,
        follow=follow,
        trust=trust,
    )
    children = _start_workers(workers - 1)
    server = Server(repository, host, port, token=token, reuse_port=reuse_port or workers > 1)
    if not reuse_port:  # the first process speaks for all
        console.print(
            f"serving [bold]{served_as}[/] ({info.source}, {info.format}) at {server.url} "
            f"with {workers} worker{'s' if workers > 1 else ''}"
        )
        console.print(
            f"  curl -X POST {server.url}/api/inference/predict/{served_as} "
            "-H 'Content-Type: application/json' -d '{\"features\": [[...]]}'"
        )
        console.print("  Ctrl-C to stop")
    _wait_for_signal()
    server.stop()
    repository.close()
    for child in children:
        child.terminate()
    for child in children:
        child.wait(30)


def _start_workers(count: int) -> list[subprocess.Popen[bytes]]:
    """Starts ``count`` more processes of this same command, each binding the same port."""
    args: list[str] = []
    skip = False
    for arg in sys.argv[1:]:
        if skip:
            skip = False
        elif arg == "--workers":
            skip = True
        elif not arg.startswith("--workers="):
            args.append(arg)
    return [
        subprocess.Popen([sys.executable, "-m", "aidot", *args, "--reuse-port"])
        for _ in range(count)
    ]


def _wait_for_signal() -> None:
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    while not stop.wait(0.5):
        pass
