"""ModelRepository: loading from the registry, hot swap under load, following a stage, and
the management routes that load and unload through it."""

from __future__ import annotations

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
