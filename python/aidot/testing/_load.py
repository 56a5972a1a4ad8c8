"""A load generator for a served model: concurrent keep-alive HTTP clients, each request
timed on the client, so the numbers include everything a caller waits for."""

from __future__ import annotations

import http.client
import json
import threading
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from aidot.errors import InvalidArgumentError


@dataclass(frozen=True)
class LoadReport:
    """What :func:`drive_load` measured (latencies in ms, as the client saw them)."""

    requests: int
    errors: int
    seconds: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    max_ms: float
    error_samples: list[str] = field(default_factory=list)
    """The first few error replies (status and body), to say what went wrong."""

    @property
    def throughput(self) -> float:
        """Requests answered per second."""
        return self.requests / self.seconds if self.seconds > 0 else 0.0


def drive_load(
    target: Any,
    rows: Any,
    *,
    requests: int = 1_000,
    concurrency: int = 16,
    rows_per_request: int = 1,
    timeout: float = 30.0,
) -> LoadReport:
    """Sends ``requests`` JSON predict requests to ``target`` (a :class:`ServedModel`, or a
    predict URL ``http://HOST:PORT/api/inference/predict/NAME``) from ``concurrency`` threads,
    each on its own keep-alive connection, cycling through ``rows`` (a 2-D array or list of
    lists) ``rows_per_request`` at a time."""
    if requests < 1 or concurrency < 1 or rows_per_request < 1:
        raise InvalidArgumentError(
            "requests, concurrency and rows_per_request must all be at least 1"
        )
    url = target if isinstance(target, str) else target.predict_url
    parts = urlsplit(url)
    host, port = parts.hostname, parts.port
    if parts.scheme != "http" or host is None:
        raise InvalidArgumentError(f"{url!r} is not an http:// predict URL")
    table = [list(map(float, row)) for row in rows]
    if not table:
        raise InvalidArgumentError("rows is empty: give at least one row of features")
    bodies = [
        json.dumps(
            {"features": [table[(i + j) % len(table)] for j in range(rows_per_request)]}
        ).encode()
        for i in range(len(table))
    ]
    latencies: list[float] = [0.0] * requests
    errors: list[str] = []
    lock = threading.Lock()
    counter = iter(range(requests))

    def client() -> None:
        connection = http.client.HTTPConnection(host, port, timeout=timeout)
        headers = {"Content-Type": "application/json"}
        try:
            while True:
                with lock:
                    n = next(counter, None)
                if n is None:
                    return
                started = time.perf_counter()
                try:
                    connection.request("POST", parts.path, bodies[n % len(bodies)], headers)
                    reply = connection.getresponse()
                    body = reply.read()
                    failed = None if reply.status == 200 else f"{reply.status}: {body[:200]!r}"
                except OSError as exc:
                    connection.close()
                    connection = http.client.HTTPConnection(host, port, timeout=timeout)
                    failed = f"{type(exc).__name__}: {exc}"
                latencies[n] = (time.perf_counter() - started) * 1e3
                if failed is not None:
                    with lock:
                        errors.append(failed)
        finally:
            connection.close()

    threads = [threading.Thread(target=client, daemon=True) for _ in range(concurrency)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - started
    ordered = sorted(latencies)

    def quantile(q: float) -> float:
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]

    return LoadReport(
        requests=requests,
        errors=len(errors),
        seconds=seconds,
        p50_ms=quantile(0.50),
        p95_ms=quantile(0.95),
        p99_ms=quantile(0.99),
        max_ms=ordered[-1],
        error_samples=errors[:5],
    )
