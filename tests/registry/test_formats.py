"""Saving model objects into the registry and loading them back as ServableModels."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from aidot import Workspace
from aidot.errors import (
    IntegrityError,
    InvalidArgumentError,
    SignatureMismatchError,
    TrustRequiredError,
    UnsupportedModelError,
)
from aidot.registry import NumpyModel


def linear(arrays: dict[str, Any], batch: Any) -> Any:
    """The function a NumpyModel names: importable as tests.registry.test_formats:linear."""
    return batch @ arrays["w"] + arrays["b"]


class Doubler:
    """Any object with predict: saved with cloudpickle."""

    def predict(self, batch: Any) -> Any:
        return np.asarray(batch) * 2


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    return Workspace(tmp_path / "ws")


def test_scikit_learn_round_trip_through_skops(ws: Workspace) -> None:
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 4)).astype(np.float32)
    y = (X[:, 0] - X[:, 1] > 0).astype(int)
    model = make_pipeline(StandardScaler(), LogisticRegression()).fit(X, y)
    version = ws.registry.create_model_version("clf", model=model, input_example=X[:5])
    assert version.source["format"] == "skops"
    assert "scikit-learn" in version.source["format_details"]["libraries"]
    assert version.signature is not None
    assert version.signature["inputs"][0]["shape"] == [-1, 4]
    ws.registry.transition_stage("clf", 1, "Production")
    served = ws.registry.load_model("models:/clf@Production")
    np.testing.assert_array_equal(served.predict(X[:20]), model.predict(X[:20]))
    assert served.predict(X[:3].astype(np.float64)).shape == (3,)  # same-kind cast is fine
    with pytest.raises(SignatureMismatchError, match=r"input shape \[-1, 4\]"):
        served.predict(X[:, :3])
    with pytest.raises(SignatureMismatchError, match="takes float32"):
        served.predict(np.array([["a", "b", "c", "d"]]))


def test_numpy_models_need_no_pickle(ws: Workspace) -> None:
    model = NumpyModel(
        {"w": np.array([[1.0], [2.0]]), "b": np.array([0.5])},
        "tests.registry.test_formats:linear",
    )
    ws.registry.create_model_version("lin", model=model)
    served = ws.registry.load_model("models:/lin/1")
    np.testing.assert_allclose(served.predict(np.array([[1.0, 1.0]])), [[3.5]])
    with pytest.raises(InvalidArgumentError, match="cannot import"):
        ws.registry.create_model_version("lin", model=NumpyModel({}, "nowhere.at_all:f"))


def test_pickled_models_load_only_when_trusted(ws: Workspace) -> None:
    ws.registry.create_model_version("dbl", model=Doubler())
    with pytest.raises(TrustRequiredError, match="trust=True"):
        ws.registry.load_model("models:/dbl/1")
    served = ws.registry.load_model("models:/dbl/1", trust=True)
    np.testing.assert_array_equal(served.predict(np.array([1, 2])), [2, 4])
    assert served.format == "cloudpickle"


def test_what_cannot_be_saved_or_loaded(ws: Workspace, tmp_path: Path) -> None:
    with pytest.raises(UnsupportedModelError, match="no model format can save"):
        ws.registry.create_model_version("x", model=object())
    (tmp_path / "weights.bin").write_bytes(b"raw")
    ws.registry.create_model_version("raw", path=tmp_path / "weights.bin")
    with pytest.raises(InvalidArgumentError, match="not a saved model object"):
        ws.registry.load_model("models:/raw/1")


def test_a_tampered_model_is_refused(ws: Workspace) -> None:
    version = ws.registry.create_model_version("dbl", model=Doubler())
    from aidot.data._manifest import decode

    files = decode(ws.blobs.get_bytes(version.source["manifest"]), "x")
    digest = files["model.pkl"].digest
    path = ws.blobs.whole_path(digest)
    assert path is not None
    path.chmod(0o644)
    path.write_bytes(b"not the model")
    with pytest.raises(IntegrityError, match=digest):
        ws.registry.load_model("models:/dbl/1", trust=True)


def test_onnx_from_scikit_learn_and_as_a_graph(ws: Workspace) -> None:
    from sklearn.ensemble import RandomForestRegressor
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(1)
    X = rng.normal(size=(200, 5)).astype(np.float32)
    y = (X[:, 0] > 0).astype(int)
    clf = LogisticRegression().fit(X, y)
    version = ws.registry.create_model_version("clf", model=clf, format="onnx", input_example=X[:4])
    assert version.source["format"] == "onnx"
    assert "onnxruntime" in version.source["format_details"]["libraries"]
    served = ws.registry.load_model("models:/clf/1")
    np.testing.assert_array_equal(served.predict(X[:50]), clf.predict(X[:50]))

    reg = RandomForestRegressor(n_estimators=5, random_state=0).fit(X, X[:, 1])
    from skl2onnx import to_onnx

    graph = to_onnx(reg, X[:1])
    ws.registry.create_model_version("reg", model=graph, input_example=X[:3])  # detected
    served = ws.registry.load_model("models:/reg/1")
    assert served.format == "onnx"
    np.testing.assert_allclose(served.predict(X[:10]).ravel(), reg.predict(X[:10]), rtol=1e-4)

    with pytest.raises(InvalidArgumentError, match="needs input_example"):
        ws.registry.create_model_version("clf", model=clf, format="onnx")
    with pytest.raises(InvalidArgumentError, match="unknown model format 'tflite'"):
        ws.registry.create_model_version("clf", model=clf, format="tflite")
    with pytest.raises(UnsupportedModelError, match="format 'numpy' cannot save"):
        ws.registry.create_model_version("clf", model=clf, format="numpy")


def test_a_forged_format_is_an_aidot_error_not_a_raw_one(ws: Workspace) -> None:
    import json

    import sqlalchemy as sa

    from aidot.store._schema import model_versions

    model = NumpyModel({"w": np.ones((2, 1))}, "tests.registry.test_formats:linear")
    version = ws.registry.create_model_version("lin", model=model)
    forged = {**version.source, "format": "onnx", "format_details": {}}
    with ws.store.write() as conn:
        conn.execute(
            sa.update(model_versions)
            .where(model_versions.c.id == version.id)
            .values(source=json.dumps(forged))
        )
    with pytest.raises(IntegrityError, match="recorded as a 'onnx' model"):
        ws.registry.load_model("models:/lin/1")
