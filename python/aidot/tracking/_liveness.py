"""Knowing whether a run is alive: heartbeats, and ending runs KILLED on SIGTERM.

A RUNNING run whose process died (``kill -9``, a lost machine) can never end itself. Every
tracker with active runs refreshes their ``heartbeat_at`` every :data:`HEARTBEAT_INTERVAL_S`;
a RUNNING run whose heartbeat is older than the reader's timeout is reported as CRASHED.

SIGTERM (what schedulers and ``docker stop`` send) would otherwise kill the process without
ending its runs: the first run started in the main thread installs a handler that ends every
active run as KILLED, flushing its metrics, then lets the default action terminate the process.
"""

from __future__ import annotations

import os
import signal
import threading
import weakref
from collections.abc import Callable
from types import FrameType
from typing import Protocol

HEARTBEAT_INTERVAL_S = 10.0
DEFAULT_HEARTBEAT_TIMEOUT_S = 60.0


class Heartbeat:
    """Calls ``beat()`` every ``interval`` seconds from a daemon thread until stopped."""

    def __init__(self, beat: Callable[[], None], interval: float = HEARTBEAT_INTERVAL_S) -> None:
        self._beat = beat
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="aidot-heartbeat", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _loop(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                self._beat()
            except Exception:
                continue


_on_sigterm: weakref.WeakSet[_Terminable] = weakref.WeakSet()
_installed = False
_install_lock = threading.Lock()


class _Terminable(Protocol):
    """Anything with runs to end when the process is told to terminate."""

    def _terminate_runs(self) -> None: ...


def end_runs_on_sigterm(owner: _Terminable) -> None:
    """Registers ``owner``; installs the SIGTERM handler once, if nobody else has one."""
    global _installed  # noqa: PLW0603 - one handler per process
    _on_sigterm.add(owner)
    with _install_lock:
        if _installed or threading.current_thread() is not threading.main_thread():
            return
        if signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
            return  # the application handles SIGTERM itself; leave it in charge
        signal.signal(signal.SIGTERM, _handle_sigterm)
        _installed = True


def _handle_sigterm(signum: int, frame: FrameType | None) -> None:
    for owner in list(_on_sigterm):
        try:
            owner._terminate_runs()
        except Exception:
            continue
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    os.kill(os.getpid(), signal.SIGTERM)
