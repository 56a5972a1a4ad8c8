"""ModelRepository: loading from the registry, hot swap under load, following a stage, and
the management routes that load and unload through it."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from aidot import Workspace
from aidot.errors import InvalidArgumentError, NotFoundError
from aidot.registry import NumpyModel
from aidot.serving import ModelRepository, serve

from ._http import predict, request
from .models import Linear

PREDICT = "tests.serving.test_repository:affine"


def affine(arrays: dict[str, np.ndarray], batch: np.ndarray) -> np.ndarray:
    """A NumpyModel function: ``batch @ w + b``."""
    return np.asarray(batch, dtype=np.float32) @ arrays["w"] + arrays["b"]


def register(ws: Workspace, bias: float, stage: str | None = None) -> int:
    model = NumpyModel(
        {"w": np.eye(4, 2, dtype=np.float32), "b": np.full(2, bias, dtype=np.float32)}, PREDICT
    )
    version = ws.registry.create_model_version(
        "affine", model=model, input_example=np.zeros((2, 4), dtype=np.float32)
    )
    if stage:
        ws.registry.transition_stage("affine", version.version, stage)
    return version.version


@pytest.fixture
def repository(workspace: Workspace) -> Iterator[ModelRepository]:
    repo = workspace.repository
    yield repo
    repo.close()


def test_load_from_the_registry_and_describe(
    workspace: Workspace, repository: ModelRepository
) -> None:
    register(workspace, 0.5, "Production")
    info = repository.load("affine", "models:/affine@Production", max_batch_size=8)
    assert info.version == "1"
    assert info.format == "numpy"
    assert info.source == "models:/affine/1"
    assert info.input_dims == [4]
    assert info.output_dims == [2]
    assert info.batching.max_batch_size == 8
    assert [m.name for m in repository.list()] == ["affine"]
    with serve(repository) as server:
        reply = predict(server.url, "affine", [[1, 2, 3, 4]])
        assert reply.json()["predictions"] == [[1.5, 2.5]]


def test_bad_loads_name_the_problem(workspace: Workspace, repository: ModelRepository) -> None:
    with pytest.raises(NotFoundError):
        repository.load("x", "models:/missing/1")
    with pytest.raises(InvalidArgumentError, match="predict"):
        repository.load("x", object())
    with pytest.raises(InvalidArgumentError, match="no signature"):
        repository.load("x", type("NoSig", (), {"predict": lambda self, b: b})())
    with pytest.raises(InvalidArgumentError, match="needs a models:/ URI"):
        repository.load("x", Linear(), follow="Production")
    with pytest.raises(NotFoundError, match="no model named 'x'"):
        repository.unload("x")
    with pytest.raises(NotFoundError):
        repository.info("x")


def test_hot_swap_under_load_fails_no_request(workspace: Workspace) -> None:
    repository = ModelRepository()
    repository.load("m", Linear(offset=0.0, delay=0.001))
    stop = threading.Event()
    failures: list[str] = []
    offsets: set[float] = set()

    with serve(repository) as server:

        def hammer() -> None:
            while not stop.is_set():
                reply = predict(server.url, "m", [[0, 0, 0, 0]])
                if reply.status != 200:
                    failures.append(f"{reply.status} {reply.body!r}")
                else:
                    offsets.add(reply.json()["predictions"][0][0])

        with ThreadPoolExecutor(8) as pool:
            for _ in range(8):
                pool.submit(hammer)
            for version in range(1, 6):
                model = Linear(offset=float(version), delay=0.001)
                repository.load("m", model)
                assert repository.info("m").version == "1"
                threading.Event().wait(0.1)
            stop.set()
    assert failures == []
    assert offsets == {0.0, 1.0, 2.0, 3.0, 4.0, 5.0}
    repository.close()


SWAPS_UNDER_LOAD = textwrap.dedent(
    """
    import json, threading, time, urllib.request
    import numpy as np
    from aidot.serving import ModelRepository, serve

    class Scale:
        signature = {
            "inputs": [{"name": "x", "dtype": "<f4", "shape": [-1, 4]}],
            "outputs": [{"name": "y", "dtype": "<f4", "shape": [-1, 4]}],
        }
        def __init__(self, k):
            self.k = np.float32(k)
        def predict(self, batch):
            return batch * self.k

    repository = ModelRepository()
    repository.load("m", Scale(1))
    server = serve(repository)
    body = json.dumps({"features": [[1, 2, 3, 4], [4, 3, 2, 1]]}).encode()
    stop, answered, failures = threading.Event(), [0], []

    def hammer():
        url = server.url + "/api/inference/predict/m"
        while not stop.is_set():
            request = urllib.request.Request(url, body, {"Content-Type": "application/json"})
            try:
                with urllib.request.urlopen(request, timeout=30) as reply:
                    reply.read()
                answered[0] += 1
            except Exception as exc:
                failures.append(repr(exc))

    threads = [threading.Thread(target=hammer) for _ in range(8)]
    for thread in threads:
        thread.start()
    for k in range(2, 102):
        repository.load("m", Scale(k))
        time.sleep(0.002)
    stop.set()
    for thread in threads:
        thread.join()
    server.stop()
    repository.close()
    assert not failures, failures[:3]
    print(answered[0])
    """
)


def test_many_hot_swaps_while_http_threads_run_batches_neither_hang_nor_fail() -> None:
    """Two-row requests from 8 clients run on the HTTP threads while the model is replaced 100
    times: each swap closes a model whose dispatcher waits for a batch an HTTP thread is running
    (it once held the GIL meanwhile, and both waited forever). In a subprocess, so a hang fails
    the test instead of the suite."""
    result = subprocess.run(
        [sys.executable, "-c", SWAPS_UNDER_LOAD],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert int(result.stdout) > 0


def test_follow_swaps_when_the_stage_moves(
    workspace: Workspace, repository: ModelRepository
) -> None:
    register(workspace, 1.0, "Production")
    info = repository.load("affine", "models:/affine@Production", follow="Production")
    assert info.follow == "models:/affine@Production"
    assert repository.refresh() == []
    second = register(workspace, 2.0)
    workspace.registry.transition_stage("affine", second, "Production", archive_existing=True)
    assert repository.refresh() == ["affine"]
    assert repository.info("affine").version == "2"
    assert repository.get("affine").predict(np.zeros((1, 4), np.float32)).tolist() == [[2.0, 2.0]]


def test_management_routes_load_from_the_registry(
    workspace: Workspace, repository: ModelRepository
) -> None:
    register(workspace, 0.0, "Production")
    with serve(repository) as server:
        reply = request(
            f"{server.url}/api/models", "POST", {"name": "a", "uri": "models:/affine/1"}
        )
        assert reply.status == 201, reply.body
        assert reply.json()["source"] == "models:/affine/1"
        again = request(
            f"{server.url}/api/models", "POST", {"name": "a", "uri": "models:/affine/1"}
        )
        assert again.status == 409
        missing = request(
            f"{server.url}/api/models", "POST", {"name": "b", "uri": "models:/nope/1"}
        )
        assert missing.status == 404
        bad = request(f"{server.url}/api/models", "POST", {"name": "b", "uri": "s3://x"})
        assert bad.status == 400
        assert "not a model URI" in bad.error
        # The V2 repository extension loads a name's Production version by default.
        assert request(f"{server.url}/v2/repository/models/affine/load", "POST").status == 200
        index = request(f"{server.url}/v2/repository/index", "POST").json()
        assert [m["name"] for m in index] == ["a", "affine"]
        assert request(f"{server.url}/api/models/a", "DELETE").status == 204
        assert repository.names() == ["affine"]


def test_management_needs_the_token_when_one_is_set(
    workspace: Workspace, repository: ModelRepository
) -> None:
    register(workspace, 0.0, "Production")
    with serve(repository, token="s3cret") as server:
        body = {"name": "a", "uri": "models:/affine/1"}
        denied = request(f"{server.url}/api/models", "POST", body)
        assert denied.status == 401
        assert denied.headers["www-authenticate"] == "Bearer"
        allowed = request(
            f"{server.url}/api/models", "POST", body, {"Authorization": "Bearer s3cret"}
        )
        assert allowed.status == 201
        # Inference itself needs no token.
        assert predict(server.url, "a", [[1, 2, 3, 4]]).status == 200
