"""Serving (issue #6 targets): aidot's Rust server against nginx returning a fixed body (the
ceiling of any HTTP server here), FastAPI + uvicorn, LitServe and BentoML, each serving the same
NumPy MLP (32 -> 256 ReLU -> 8) on loopback, one row per request, driven by wrk at 1, 16 and 64
connections in the same run.

aidot is served the way users test their own models, with the fixtures of the
``aidot.testing`` pytest plugin: ``aidot_serve`` starts the Rust server on loopback in this
process (which only waits on wrk meanwhile) and ``aidot_load`` checks that every model answers
before wrk times it.

Needs wrk and nginx (Debian's ``wrk`` and ``nginx-light``) and, for the Python peers, the bench
environment (``make bench-env``; AIDOT_BENCH_PEERS_PYTHON). Peers that are not installed are
reported as missing, not skipped silently. Every server runs BLAS on one thread
(``OPENBLAS_NUM_THREADS=1`` for the peers' processes, threadpoolctl here): BLAS worker threads
spinning beside the HTTP threads cost every server alike on 2 cores.
AIDOT_BENCH_SECONDS sets the length of each wrk run (default 5).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from threadpoolctl import threadpool_limits

from aidot.testing import LoadReport, ServedModel

from .conftest import Comparison, record
from .serving_model import BODY, MODELS

SECONDS = int(os.environ.get("AIDOT_BENCH_SECONDS", "5"))
CONNECTIONS = (1, 16, 64)
PEERS = Path(__file__).resolve().parent / "peers"


@dataclass
class Load:
    connections: int
    requests_per_s: float
    p50_ms: float
    p99_ms: float
    errors: int

    def __str__(self) -> str:
        return (
            f"c={self.connections:>2}: {self.requests_per_s:>9,.0f} req/s  "
            f"p50 {self.p50_ms:7.3f} ms  p99 {self.p99_ms:7.3f} ms  errors {self.errors}"
        )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wrk(url: str, connections: int, seconds: int = SECONDS) -> Load:
    """One wrk run posting the benchmark body; wrk's own numbers."""
    script = Path(tempfile.mkdtemp()) / "post.lua"
    script.write_text(
        'wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\n'
        f"wrk.body = '{BODY}'\n"
    )
    threads = 1 if connections == 1 else 2
    out = subprocess.run(
        [
            "wrk",
            f"-t{threads}",
            f"-c{connections}",
            f"-d{seconds}s",
            "--latency",
            "-s",
            str(script),
            url,
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout

    def latency(label: str) -> float:
        match = re.search(rf"{label}%\s+([\d.]+)(us|ms|s)", out)
        assert match, out
        value, unit = float(match.group(1)), match.group(2)
        return value * {"us": 1e-3, "ms": 1.0, "s": 1e3}[unit]

    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    sockets = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out
    )
    errors = int(non_2xx.group(1)) if non_2xx else 0
    if sockets:
        errors += sum(int(n) for n in sockets.groups())
    return Load(connections, rps, latency("50"), latency("99"), errors)


def wait_until_answering(url: str, process: subprocess.Popen[bytes], timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{process.args!r} exited with {process.returncode}")
        try:
            request = urllib.request.Request(
                url, data=BODY.encode(), headers={"Content-Type": "application/json"}
            )
            with urllib.request.urlopen(request, timeout=2) as reply:
                if reply.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer within {timeout} s")


@contextmanager
def running(
    argv: list[str], url: str, cwd: Path, extra_env: dict[str, str] | None = None
) -> Iterator[str]:
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", **(extra_env or {})}
    with tempfile.TemporaryFile() as log:
        # Its own process group, so servers that fork workers (LitServe, BentoML) go down whole.
        process = subprocess.Popen(
            argv, cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            try:
                wait_until_answering(url, process)
            except RuntimeError:
                log.seek(0)
                print(log.read().decode(errors="replace")[-4000:])
                raise
            wrk(url, 16, seconds=1)  # warm up
            yield url
        finally:
            stop_group(process)


def stop_group(process: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    time.sleep(1)  # forked workers exit after their parent; then make sure
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)


@contextmanager
def nginx() -> Iterator[str]:
    folder = Path(tempfile.mkdtemp(prefix="aidot-nginx-"))
    port = free_port()
    reply = json.dumps({"predictions": [[0.1] * 8]})
    (folder / "nginx.conf").write_text(
        f"""worker_processes auto; daemon off; pid {folder}/nginx.pid; error_log {folder}/error.log;
events {{ worker_connections 4096; }}
http {{ access_log off; client_body_temp_path {folder}; proxy_temp_path {folder};
  fastcgi_temp_path {folder}; uwsgi_temp_path {folder}; scgi_temp_path {folder};
  server {{ listen 127.0.0.1:{port};
    location / {{ default_type application/json; return 200 '{reply}'; }} }} }}
"""
    )
    url = f"http://127.0.0.1:{port}/api/inference/predict/mlp"
    with running(
        ["nginx", "-c", str(folder / "nginx.conf"), "-p", str(folder)], url, folder
    ) as live:
        yield live
    shutil.rmtree(folder, ignore_errors=True)


def peers_python() -> str | None:
    # abspath, not resolve(): a venv's python is a symlink to the base interpreter.
    python = os.environ.get("AIDOT_BENCH_PEERS_PYTHON")
    return os.path.abspath(python) if python else None


ROUNDS = int(os.environ.get("AIDOT_BENCH_ROUNDS", "3"))


def measure(label: str, url: str, results: dict[str, list[Load]]) -> None:
    results[label] = [wrk(url, c) for c in CONNECTIONS]
    print(f"\n{label}")
    for load in results[label]:
        print(f"  {load}")


def median_load(loads: list[Load]) -> Load:
    ordered = sorted(loads, key=lambda load: load.requests_per_s)
    return ordered[len(ordered) // 2]


def measure_interleaved(urls: dict[str, str], results: dict[str, list[Load]]) -> None:
    """Every connection count, ``ROUNDS`` times, alternating the servers round by round so that
    they all see the same machine (this VM's speed drifts by 30% within minutes); the median
    round by requests/s is kept."""
    for connections in CONNECTIONS:
        rounds: dict[str, list[Load]] = {label: [] for label in urls}
        for _ in range(ROUNDS):
            for label, url in urls.items():
                rounds[label].append(wrk(url, connections))
        for label, loads in rounds.items():
            results.setdefault(label, []).append(median_load(loads))
    for label in urls:
        print(f"\n{label} (median of {ROUNDS} interleaved rounds)")
        for load in results[label]:
            print(f"  {load}")


def test_serving_against_nginx_and_python_stacks(
    aidot_serve: Callable[..., ServedModel], aidot_load: Callable[..., LoadReport]
) -> None:
    for tool in ("wrk", "nginx"):
        if shutil.which(tool) is None:
            pytest.fail(f"{tool} is not installed; apt-get install wrk nginx-light")
    results: dict[str, list[Load]] = {}
    rows = np.asarray(json.loads(BODY)["features"], dtype=np.float32)
    with threadpool_limits(limits=1, user_api="blas"), nginx() as nginx_url:
        urls = {"nginx fixed body": nginx_url}
        for name, model in MODELS.items():
            served = aidot_serve(model(), name=name)
            # Every model answers, without an error, before wrk times it (and it warms up).
            check = aidot_load(served, rows, requests=2_000, concurrency=16)
            assert check.errors == 0, check.error_samples
            urls[f"aidot {name}"] = served.predict_url
        measure_interleaved(urls, results)

    python = peers_python()
    missing = []
    peer_env = {"PYTHONPATH": str(Path(__file__).resolve().parent)}
    for label, module, path, command in PEER_SERVERS:
        if python is None or not installed(python, module):
            missing.append(label)
            continue
        port = free_port()
        url = f"http://127.0.0.1:{port}{path}"
        with running(command(python, port), url, PEERS, peer_env):
            measure(label, url, results)
    report(results, missing)


# Each peer: its label, the package that serves it, the path its predictions are posted to,
# and its command line given the peers' Python and a port.
PEER_SERVERS: list[tuple[str, str, str, Callable[[str, int], list[str]]]] = [
    (
        "FastAPI + uvicorn",
        "fastapi",
        "/api/inference/predict/mlp",
        lambda python, port: [python, str(PEERS / "serve_fastapi.py"), str(port)],
    ),
    (
        "LitServe",
        "litserve",
        "/predict",
        lambda python, port: [python, str(PEERS / "serve_litserve.py"), str(port), "mlp"],
    ),
    (
        "BentoML",
        "bentoml",
        "/predict",
        lambda python, port: [
            str(Path(python).parent / "bentoml"),
            *("serve", "bentoml_service:Mlp", "--port", str(port)),
        ],
    ),
]


def installed(python: str, module: str) -> bool:
    """Whether ``module`` imports in the peers' Python."""
    probe = [
        python,
        "-c",
        f"import importlib.util, sys; sys.exit(not importlib.util.find_spec({module!r}))",
    ]
    return subprocess.run(probe, check=False).returncode == 0


def report(results: dict[str, list[Load]], missing: list[str]) -> None:
    def at(label: str, connections: int) -> Load:
        return next(load for load in results[label] if load.connections == connections)

    ceiling = at("nginx fixed body", 64).requests_per_s
    mlp = at("aidot mlp", 64)
    echo = at("aidot echo", 64)
    record(
        Comparison(
            "serve MLP, 64 connections: aidot vs nginx ceiling (s/request)",
            1 / mlp.requests_per_s,
            "nginx fixed body",
            1 / ceiling,
            ">= 0.40x",
            note=f"({mlp.requests_per_s:,.0f} vs {ceiling:,.0f} req/s)",
        )
    )
    record(
        Comparison(
            "serve identity, 64 connections: aidot vs nginx ceiling",
            1 / echo.requests_per_s,
            "nginx fixed body",
            1 / ceiling,
            ">= 0.60x",
            note=f"({echo.requests_per_s:,.0f} req/s)",
        )
    )
    lone = at("aidot mlp", 1)
    record(
        Comparison(
            "serve MLP, 1 connection: p50 latency",
            lone.p50_ms / 1e3,
            "target",
            200e-6,
            "p50 < 200 us",
            note=f"(p99 {lone.p99_ms * 1e3:.0f} us)",
        )
    )
    for peer in ("FastAPI + uvicorn", "LitServe", "BentoML"):
        if peer not in results:
            continue
        other = at(peer, 64)
        target = ">= 20x req/s" if peer.startswith("FastAPI") else "higher req/s"
        record(
            Comparison(
                f"serve MLP, 64 connections: aidot vs {peer} (s/request)",
                1 / mlp.requests_per_s,
                peer,
                1 / other.requests_per_s,
                target,
                note=f"({other.requests_per_s:,.0f} req/s, {other.errors} errors)",
            )
        )
        record(
            Comparison(
                f"serve MLP, 64 connections: p99, aidot vs {peer}",
                mlp.p99_ms / 1e3,
                peer,
                other.p99_ms / 1e3,
                "lower p99",
            )
        )
    assert mlp.errors == 0, "aidot answered errors under load"
    assert echo.errors == 0, "aidot answered errors under load"
    if missing:
        print(
            "\npeers not measured (not installed in $AIDOT_BENCH_PEERS_PYTHON; make bench-env): "
            + ", ".join(missing)
        )
