"""The Rust HTTP server on loopback, driven by a real HTTP client: the seed API, errors,
metrics, health while a model is busy, and draining on stop."""

from __future__ import annotations

import json
import socket
import struct
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from aidot.errors import InvalidArgumentError, ServerStartError
from aidot.serving import ModelRepository, Server, serve

from ._http import predict, request
from .models import Gate, Linear, Raising, ThreadRecording, WrongShape


@pytest.fixture
def linear() -> Linear:
    return Linear()


@pytest.fixture
def server(linear: Linear) -> Iterator[Server]:
    repository = ModelRepository()
    repository.load("lin", linear)
    with serve(repository) as running:
        yield running
    repository.close()


def test_serve_returns_at_once_with_the_bound_port(server: Server) -> None:
    assert server.port > 0
    assert server.url == f"http://127.0.0.1:{server.port}"
    assert server.running
    assert request(f"{server.url}/healthz").json() == {"status": "ok"}


def test_predict_answers_every_row_with_the_contract_fields(server: Server, linear: Linear) -> None:
    rows = [[1, 2, 3, 4], [0.5, 0, -1, 2]]
    reply = predict(server.url, "lin", rows, requestId="req-7")
    assert reply.status == 200, reply.body
    body = reply.json()
    expected = linear.predict(np.asarray(rows, dtype=np.float32))
    np.testing.assert_allclose(body["predictions"], expected)
    assert body["requestId"] == "req-7"
    assert body["processingTimeMs"] > 0
    assert round(body["processingTimeMs"], 3) == body["processingTimeMs"]  # to the microsecond
    assert 1 <= body["batchSize"] <= 2


def test_concurrent_requests_share_batches_and_get_their_own_rows() -> None:
    model = Linear(delay=0.005)
    repository = ModelRepository()
    repository.load("lin", model, max_batch_size=16)
    with serve(repository) as server:

        def one(i: int) -> tuple[int, list[float]]:
            reply = predict(server.url, "lin", [[i, 0, 0, 0]])
            assert reply.status == 200, reply.body
            return i, reply.json()["predictions"][0]

        with ThreadPoolExecutor(32) as pool:
            results = list(pool.map(one, range(200)))
        for i, prediction in results:
            np.testing.assert_allclose(prediction, [0.0, float(i)])
        metrics = server.metrics()["lin"]
    assert max(model.batch_sizes) > 1
    assert metrics.requests_total == 200
    assert metrics.batch_size_mean > 1
    assert metrics.end_to_end.count == 200
    assert metrics.end_to_end.p50_ms <= metrics.end_to_end.p99_ms <= metrics.end_to_end.max_ms
    repository.close()


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="reads Linux thread names")
def test_http_threads_run_batches_under_load_each_in_one_python_thread_state() -> None:
    """Under load an HTTP thread runs the batch of the requests it has read itself (no hand-off
    to the dispatcher); each thread keeps one Python thread state for its life, so a model's
    ``threading.local`` data lasts from call to call."""
    model = ThreadRecording()
    repository = ModelRepository()
    repository.load("lin", model)
    with serve(repository) as server:

        def one(i: int) -> list[list[float]]:
            # Two rows: a request whose rows wait together may run on its HTTP thread.
            reply = predict(server.url, "lin", [[i, 0, 0, 0], [0, i, 0, 0]])
            assert reply.status == 200, reply.body
            return reply.json()["predictions"]

        with ThreadPoolExecutor(16) as pool:
            results = list(pool.map(one, range(400)))
    repository.close()
    for i, predictions in enumerate(results):
        np.testing.assert_allclose(predictions, [[0.0, float(i)], [2.0 * i, 3.0 * i]])
    assert any(name.startswith("aidot-http-") for name in model.thread_names), model.thread_names
    # One state per thread that ran the model: the dispatcher and the HTTP threads.
    assert model.fresh_states == len(model.thread_names) < len(model.batch_sizes)


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        (b'{"features": [[1, 2, 3]]}', 400, "features[0] has 3 values; model 'lin' expects 4"),
        (b'{"features": [[1, 2, 3, 4], [1]]}', 400, "features[1] has 1 values"),
        (b'{"features": [[1, NaN, 3, 4]]}', 400, "invalid JSON body"),
        (b'{"features": [[1, "2", 3, 4]]}', 400, "features[0][1]"),
        (b'{"features": "all"}', 400, "invalid JSON body at 'features'"),
        (b'{"rows": []}', 400, "missing field `features`"),
        (b"not json", 400, "invalid JSON body"),
    ],
)
def test_bad_bodies_get_400_naming_the_problem(
    server: Server, body: bytes, status: int, message: str
) -> None:
    reply = request(f"{server.url}/api/inference/predict/lin", "POST", body)
    assert reply.status == status
    assert reply.headers["content-type"] == "application/json"
    assert message in reply.error
    assert predict(server.url, "lin", [[1, 2, 3, 4]]).status == 200


def test_unknown_models_routes_and_oversized_bodies(linear: Linear) -> None:
    repository = ModelRepository()
    repository.load("lin", linear)
    with serve(repository, max_body_bytes=1024) as server:
        reply = predict(server.url, "nope", [[1, 2, 3, 4]])
        assert reply.status == 404
        assert "no model named 'nope'" in reply.error
        assert request(f"{server.url}/nowhere").status == 404
        big = predict(server.url, "lin", [[1.0, 2.0, 3.0, 4.0]] * 200)
        assert big.status == 413
        assert "limit of 1024 bytes" in big.error
        errors = server.metrics()["lin"].errors
        assert errors["too_large"] == 1
    repository.close()


@pytest.mark.parametrize(
    ("model", "message"),
    [
        (Raising(), "ValueError: the model cannot handle this batch"),
        (WrongShape(), "one row per input row"),
    ],
)
def test_a_failing_model_fails_only_its_requests(model: Linear, message: str) -> None:
    repository = ModelRepository()
    repository.load("bad", model, warmup=False)
    repository.load("lin", Linear())
    with serve(repository) as server:
        reply = predict(server.url, "bad", [[1, 2, 3, 4]])
        assert reply.status == 500
        assert message in reply.error
        assert predict(server.url, "lin", [[1, 2, 3, 4]]).status == 200
        assert server.metrics()["bad"].errors["model_error"] == 1
    repository.close()


def test_a_model_that_fails_its_warm_up_is_not_loaded() -> None:
    repository = ModelRepository()
    with pytest.raises(Exception, match="warm-up"):
        repository.load("bad", Raising())
    assert repository.names() == []


def test_healthz_answers_while_the_model_is_busy() -> None:
    model = Gate()
    repository = ModelRepository()
    repository.load("gate", model, warmup=False)
    with serve(repository) as server:
        pending = ThreadPoolExecutor(1).submit(predict, server.url, "gate", [[1, 2, 3, 4]])
        assert model.entered.wait(10)
        started = time.perf_counter()
        assert request(f"{server.url}/healthz", timeout=5).status == 200
        assert request(f"{server.url}/v2/health/live", timeout=5).status == 200
        # The HTTP threads never wait for the GIL or the model.
        assert time.perf_counter() - started < 2.0
        model.opened.set()
        assert pending.result(10).status == 200
    repository.close()


def test_stop_lets_in_flight_requests_finish() -> None:
    model = Gate()
    repository = ModelRepository()
    repository.load("gate", model, warmup=False)
    server = serve(repository)
    pending = ThreadPoolExecutor(1).submit(predict, server.url, "gate", [[1, 2, 3, 4]])
    assert model.entered.wait(10)
    threading.Timer(0.3, model.opened.set).start()
    server.stop()  # returns once the request above has its answer
    assert pending.result(1).status == 200
    assert not server.running
    with pytest.raises(ConnectionRefusedError):
        request(f"{server.url}/healthz", timeout=2)
    repository.close()


def test_a_full_queue_answers_503_with_retry_after_then_429_when_configured() -> None:
    for overload_status in (503, 429):
        model = Gate()
        repository = ModelRepository()
        repository.load("gate", model, queue_capacity=1, max_batch_size=1, warmup=False)
        with serve(repository, overload_status=overload_status) as server:
            with ThreadPoolExecutor(2) as pool:
                running = pool.submit(predict, server.url, "gate", [[1, 2, 3, 4]])
                assert model.entered.wait(10)
                waiting = pool.submit(predict, server.url, "gate", [[1, 2, 3, 4]])
                while repository.info("gate").queue_depth < 1:
                    time.sleep(0.01)
                refused = predict(server.url, "gate", [[1, 2, 3, 4]])
                assert refused.status == overload_status
                assert refused.headers["retry-after"] == "1"
                assert "queue of 1 rows is full" in refused.error
                model.opened.set()
                assert running.result(10).status == 200
                assert waiting.result(10).status == 200
            assert server.metrics()["gate"].errors["queue_full"] == 1
        repository.close()


def test_prometheus_metrics_parse_with_prometheus_client(server: Server) -> None:
    from prometheus_client.parser import text_string_to_metric_families

    for _ in range(5):
        assert predict(server.url, "lin", [[1, 2, 3, 4]]).status == 200
    reply = request(f"{server.url}/metrics")
    assert reply.headers["content-type"].startswith("text/plain; version=0.0.4")
    families = {f.name: f for f in text_string_to_metric_families(reply.body.decode())}
    latency = families["aidot_request_duration_seconds"]
    assert latency.type == "histogram"
    samples = {(s.name, s.labels.get("le")): s.value for s in latency.samples}
    assert samples[("aidot_request_duration_seconds_count", None)] == 5
    assert samples[("aidot_request_duration_seconds_bucket", "+Inf")] == 5
    assert 0 < samples[("aidot_request_duration_seconds_sum", None)] < 5
    assert families["aidot_requests"].samples[0].value == 5
    assert "aidot_batch_size" in families
    assert server.prometheus().startswith("# HELP")


def test_json_metrics_and_stats_routes(server: Server) -> None:
    assert predict(server.url, "lin", [[1, 2, 3, 4]] * 3).status == 200
    metrics = request(f"{server.url}/api/inference/metrics").json()
    lin = metrics["models"]["lin"]
    assert lin["rows_total"] == 3
    assert set(lin["end_to_end"]) >= {"p50_ms", "p95_ms", "p99_ms", "p999_ms", "max_ms"}
    assert set(lin["dispatch_reasons"]) == {
        "full",
        "delay_expired",
        "preferred_size",
        "queue_drained",
    }
    stats = request(f"{server.url}/api/inference/stats").json()["models"][0]
    assert stats["model"] == "lin"
    assert stats["requests_total"] == 1


def test_models_routes_list_and_describe(server: Server) -> None:
    listed = request(f"{server.url}/api/models").json()
    assert [m["name"] for m in listed] == ["lin"]
    one = request(f"{server.url}/api/models/lin").json()
    assert one["inputs"] == [{"name": "input", "datatype": "FP32", "shape": [-1, 4]}]
    assert one["batching"]["maxBatchSize"] == 64
    assert request(f"{server.url}/openapi.json").status == 200


def test_binding_a_taken_port_raises_server_start_error(server: Server) -> None:
    with pytest.raises(ServerStartError, match="cannot bind"):
        Server(server.repository, port=server.port)


def test_invalid_settings_are_refused() -> None:
    with pytest.raises(InvalidArgumentError, match="overload_status"):
        Server(ModelRepository(), overload_status=500)


def test_v2_inference_with_json_and_binary_tensors(server: Server, linear: Linear) -> None:
    rows = np.asarray([[1, 2, 3, 4], [5, 6, 7, 8]], dtype=np.float32)
    expected = linear.predict(rows)
    reply = request(
        f"{server.url}/v2/models/lin/infer",
        "POST",
        {
            "id": "q1",
            "inputs": [
                {"name": "input", "shape": [2, 4], "datatype": "FP32", "data": rows.tolist()}
            ],
        },
    )
    assert reply.status == 200, reply.body
    output = reply.json()["outputs"][0]
    assert output["name"] == "output"
    assert output["shape"] == [2, 2]
    np.testing.assert_allclose(np.reshape(output["data"], (2, 2)), expected)

    header = (
        b'{"inputs": [{"name": "input", "shape": [2, 4], "datatype": "FP32", '
        b'"parameters": {"binary_data_size": 32}}], "parameters": {"binary_data_output": true}}'
    )
    reply = request(
        f"{server.url}/v2/models/lin/versions/1/infer",
        "POST",
        header + rows.tobytes(),
        {
            "Inference-Header-Content-Length": str(len(header)),
            "Content-Type": "application/octet-stream",
        },
    )
    assert reply.status == 200, reply.body
    length = int(reply.headers["inference-header-content-length"])
    meta = json.loads(reply.body[:length])
    assert meta["outputs"][0]["parameters"]["binary_data_size"] == 16
    values = struct.unpack("<4f", reply.body[length:])
    np.testing.assert_allclose(np.reshape(values, (2, 2)), expected)


def test_v2_metadata_and_readiness(server: Server) -> None:
    assert request(f"{server.url}/v2").json()["name"] == "aidot"
    assert request(f"{server.url}/v2/health/ready").json() == {"ready": True}
    meta = request(f"{server.url}/v2/models/lin").json()
    assert meta["versions"] == ["1"]
    assert meta["inputs"][0]["datatype"] == "FP32"
    assert request(f"{server.url}/v2/models/lin/versions/1/ready").status == 200
    missing = request(f"{server.url}/v2/models/lin/versions/9/ready")
    assert missing.status == 404
    assert "version '9' is not loaded" in missing.error
    stats = request(f"{server.url}/v2/models/lin/stats").json()["model_stats"][0]
    assert stats["name"] == "lin"


def test_slow_clients_are_cut_off_without_stalling_others(linear: Linear) -> None:
    repository = ModelRepository()
    repository.load("lin", linear)
    with serve(repository, header_read_timeout=0.5, body_read_timeout=0.5) as server:
        # A body that stops arriving: 408 with a JSON error once the body timeout passes.
        slow_body = socket.create_connection(("127.0.0.1", server.port), timeout=10)
        slow_body.sendall(
            b"POST /api/inference/predict/lin HTTP/1.1\r\nHost: x\r\n"
            b"Content-Type: application/json\r\nContent-Length: 100\r\n\r\n"
            b'{"features": [[1,'
        )
        # Headers that never finish: the connection is closed after the header timeout.
        slow_headers = socket.create_connection(("127.0.0.1", server.port), timeout=10)
        slow_headers.sendall(b"POST /api/inference/predict/lin HTTP/1.1\r\nHost:")
        # Meanwhile everyone else is served.
        assert predict(server.url, "lin", [[1, 2, 3, 4]]).status == 200
        reply = slow_body.recv(4096).decode()
        assert reply.startswith("HTTP/1.1 408"), reply
        assert "did not arrive within 0.5 s" in reply
        # hyper answers 408 or just closes; either way the connection ends (recv returns b"").
        slow_headers.settimeout(5)
        received = b""
        while chunk := slow_headers.recv(4096):
            received += chunk
        assert received in (b"",) or received.startswith(b"HTTP/1.1 408")
        slow_body.close()
        slow_headers.close()
        assert server.metrics()["lin"].errors["bad_request"] == 1
    repository.close()


def test_a_server_dropped_while_requests_run_lets_them_finish() -> None:
    import gc

    model = Gate()
    repository = ModelRepository()
    repository.load("gate", model, warmup=False)
    server = serve(repository)
    url = server.url
    pending = ThreadPoolExecutor(1).submit(predict, url, "gate", [[1, 2, 3, 4]])
    assert model.entered.wait(10)
    threading.Timer(0.3, model.opened.set).start()
    del server
    gc.collect()  # stops the server; the model's batch still gets the GIL it needs
    assert pending.result(10).status == 200
    with pytest.raises(ConnectionRefusedError):
        request(f"{url}/healthz", timeout=2)
    repository.close()
