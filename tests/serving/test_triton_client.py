"""Triton's own HTTP client (tritonclient.http) against the server, unchanged: health,
metadata, binary and JSON tensors, versions, statistics, the repository index and errors."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest

from aidot.serving import ModelRepository, Server, serve

from .models import Linear

httpclient = pytest.importorskip("tritonclient.http")


@pytest.fixture
def server() -> Iterator[Server]:
    repository = ModelRepository()
    repository.load("lin", Linear())
    with serve(repository) as running:
        yield running
    repository.close()


@pytest.fixture
def client(server: Server) -> Iterator[object]:
    triton = httpclient.InferenceServerClient(url=f"127.0.0.1:{server.port}")
    yield triton
    triton.close()


def test_health_and_metadata(client: object) -> None:
    assert client.is_server_live()
    assert client.is_server_ready()
    assert client.is_model_ready("lin")
    assert client.is_model_ready("lin", "1")
    assert "binary_tensor_data" in client.get_server_metadata()["extensions"]
    metadata = client.get_model_metadata("lin")
    assert metadata["inputs"] == [{"name": "input", "datatype": "FP32", "shape": [-1, 4]}]
    assert client.get_model_repository_index() == [
        {"name": "lin", "version": "1", "state": "READY", "reason": ""}
    ]


@pytest.mark.parametrize("binary", [True, False])
def test_infer_with_binary_and_json_tensors(client: object, binary: bool) -> None:
    rows = np.arange(12, dtype=np.float32).reshape(3, 4)
    tensor = httpclient.InferInput("input", [3, 4], "FP32")
    tensor.set_data_from_numpy(rows, binary_data=binary)
    wanted = httpclient.InferRequestedOutput("output", binary_data=binary)
    result = client.infer("lin", [tensor], outputs=[wanted], model_version="1", request_id="r1")
    np.testing.assert_allclose(result.as_numpy("output"), Linear().predict(rows))
    assert result.get_response()["id"] == "r1"
    stats = client.get_inference_statistics("lin")["model_stats"][0]
    assert stats["inference_count"] == 3


def test_errors_reach_the_client_with_status_and_message(client: object) -> None:
    tensor = httpclient.InferInput("input", [1, 4], "FP64")
    tensor.set_data_from_numpy(np.zeros((1, 4)), binary_data=True)
    with pytest.raises(httpclient.InferenceServerException, match="model 'lin' takes FP32") as bad:
        client.infer("lin", [tensor])
    assert bad.value.status() == "400"
    with pytest.raises(httpclient.InferenceServerException, match="no model named 'nope'"):
        client.infer("nope", [tensor])
