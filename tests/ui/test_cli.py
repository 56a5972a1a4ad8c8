"""``aidot ui`` as a real process: serves the workspace until SIGINT, and a port in use is
a one-line error."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from aidot import Workspace
from tests.serving._http import request


def test_aidot_ui_serves_the_workspace_until_interrupted(tmp_path: Path) -> None:
    with Workspace(tmp_path / "ws") as ws, ws.tracker.start_run("e", name="visible"):
        pass
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = subprocess.Popen(
        [sys.executable, "-m", "aidot", "ui", "-w", str(tmp_path / "ws"), "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, process.communicate()
            try:
                reply = request(f"{url}/api/runs?experiment=e", timeout=1)
                break
            except OSError:
                if time.monotonic() > deadline:
                    pytest.fail(f"{url} did not start")
                time.sleep(0.1)
        assert reply.json()["runs"][0]["name"] == "visible"
        assert request(url).status == 200
    finally:
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=60)
    assert process.returncode == 0, err.decode()
    assert f"on {url}" in out.decode()


def test_a_port_in_use_is_a_one_line_error(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "-m", "aidot", "ui", "-w", str(tmp_path / "ws"), "--port", str(port)],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert result.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}" in result.stderr
    assert "Traceback" not in result.stderr
