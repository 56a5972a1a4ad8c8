"""``aidot serve`` as a real process: serves a registered model, several workers share the
port, and SIGINT stops it cleanly."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from aidot import Workspace

from ._http import predict, request
from .test_repository import register


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until_serving(url: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert process.poll() is None, process.communicate()
        try:
            if request(f"{url}/healthz", timeout=1).status == 200:
                return
        except OSError:
            time.sleep(0.1)
    pytest.fail(f"{url} did not start serving")


@pytest.mark.parametrize("workers", [1, 2])
def test_serve_a_registered_model_until_interrupted(tmp_path: Path, workers: int) -> None:
    home = tmp_path / "ws"
    with Workspace(home) as ws:
        register(ws, 1.0, "Production")
    port = free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "aidot",
            "serve",
            "models:/affine@Production",
            "--port",
            str(port),
            "--workers",
            str(workers),
            "--workspace",
            str(home),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=Path(__file__).parents[2],
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_serving(url, process)
        for _ in range(20):
            reply = predict(url, "affine", [[1, 2, 3, 4]])
            assert reply.status == 200, reply.body
            assert reply.json()["predictions"] == [[2.0, 3.0]]
    finally:
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=60)
    assert process.returncode == 0, err.decode()
    assert f"serving affine (models:/affine/1, numpy) at {url}" in out.decode()
    with pytest.raises(ConnectionRefusedError):
        request(f"{url}/healthz", timeout=2)


def test_serve_refuses_workers_without_a_port(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "aidot", "serve", "models:/x/1", "--port", "0", "--workers", "2"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 1
    assert "--workers needs a fixed --port" in result.stderr
