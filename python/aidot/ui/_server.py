"""Serving the UI: uvicorn on a socket bound before it starts (so ``port=0`` gives a known
port at once), in the foreground for ``aidot ui`` or in a thread for notebooks and tests."""

from __future__ import annotations

import socket
import threading
from typing import TYPE_CHECKING, Any

from aidot._lifecycle import StopsOnExit
from aidot.errors import ServerStartError

if TYPE_CHECKING:
    from aidot.workspace import Workspace


class UIServer(StopsOnExit):
    """A running UI: ``url`` to open, ``stop()`` (or leave the ``with`` block) to end it."""

    def __init__(self, server: Any, sock: socket.socket, thread: threading.Thread | None) -> None:
        self._server = server
        self._socket = sock
        self._thread = thread
        self.host, self.port = sock.getsockname()[:2]

    @property
    def url(self) -> str:
        """``http://HOST:PORT``, the address to open in a browser."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def stop(self, timeout: float = 10.0) -> None:
        """Stops accepting connections, lets open requests finish, and waits for the end."""
        self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout)
        self._socket.close()


def serve_ui(
    workspace: Workspace | None = None,
    *,
    host: str = "127.0.0.1",
    port: int = 5000,
    token: str | None = None,
    block: bool = False,
) -> UIServer:
    """Serves the web UI for ``workspace`` (default: the default workspace) on ``host:port``
    (``port=0`` picks a free one; read ``server.url``). Returns at once with the server
    running in a thread, or with ``block=True`` serves until interrupted."""
    import uvicorn

    from aidot.ui._app import create_app
    from aidot.workspace import default_workspace

    app = create_app(workspace or default_workspace(), token=token)
    sock = _bind(host, port)
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off")
    server = uvicorn.Server(config)
    if block:
        handle = UIServer(server, sock, None)
        server.run(sockets=[sock])
        return handle
    started = threading.Event()
    thread = threading.Thread(
        target=_run_in_thread, args=(server, sock, started), name="aidot-ui", daemon=True
    )
    thread.start()
    handle = UIServer(server, sock, thread)
    if not started.wait(30) or not server.started:
        handle.stop()
        raise ServerStartError(f"the UI server on {handle.url} did not start within 30 s")
    return handle


def _run_in_thread(server: Any, sock: socket.socket, started: threading.Event) -> None:
    import asyncio

    async def main() -> None:
        task = asyncio.create_task(server.serve(sockets=[sock]))
        while not server.started and not task.done():
            await asyncio.sleep(0.01)
        started.set()
        await task

    try:
        asyncio.run(main())
    finally:
        started.set()


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise ServerStartError(
            f"cannot listen on {host}:{port}: {exc.strerror}; pick another --port (0 picks a "
            "free one)"
        ) from None
    sock.listen(128)
    sock.set_inheritable(True)
    return sock
