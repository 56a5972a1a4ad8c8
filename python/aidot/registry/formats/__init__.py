"""Model formats: how a model object is saved into a folder and loaded back as a predictor.

Each format saves without pickle where the library allows it:

- ``skops``: scikit-learn estimators and pipelines, through skops (no pickle; only types skops
  trusts load unless ``trust=True``);
- ``numpy``: a :class:`NumpyModel`, a few named arrays and an importable function;
- ``onnx``: an ``onnx.ModelProto``, or a scikit-learn model converted with skl2onnx when
  asked (``format="onnx"``), run with onnxruntime;
- ``torch``: PyTorch modules as TorchScript, or a :class:`TorchModel` (a state_dict in
  safetensors plus an importable factory);
- ``cloudpickle``: any other object with ``predict``, which loads only with ``trust=True``.

:func:`detect` picks the format from the object.
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any, Protocol

from aidot.errors import (
    IntegrityError,
    InvalidArgumentError,
    TrustRequiredError,
    UnsupportedModelError,
)
from aidot.registry.formats._torch import TorchFormat, TorchModel, TorchPredictor

__all__ = [
    "FORMATS",
    "ModelFormat",
    "NumpyModel",
    "OnnxPredictor",
    "TorchModel",
    "TorchPredictor",
    "choose",
    "detect",
    "get",
]


@dataclass
class NumpyModel:
    """A model that is only arrays and a function: ``predict(batch)`` calls
    ``function(arrays, batch)``, where ``function`` is ``"package.module:name"`` importable
    wherever the model is loaded (no pickle involved)."""

    arrays: dict[str, Any]
    function: str
    extra: dict[str, Any] = field(default_factory=dict)
    """JSON-serialisable settings passed along (thresholds, labels...)."""

    def predict(self, batch: Any) -> Any:
        return resolve_function(self.function)(self.arrays, batch)


def resolve_function(spec: str) -> Callable[..., Any]:
    """``"package.module:name"`` -> the function."""
    module_name, sep, name = spec.partition(":")
    if not sep or not module_name or not name:
        raise InvalidArgumentError(f"function {spec!r} must look like 'package.module:name'")
    try:
        function = getattr(importlib.import_module(module_name), name)
    except (ImportError, AttributeError) as exc:
        raise InvalidArgumentError(
            f"cannot import {spec!r} ({exc}); install the package that defines it"
        ) from None
    if not callable(function):
        raise InvalidArgumentError(f"{spec!r} is not a function")
    return function  # type: ignore[no-any-return]


class ModelFormat(Protocol):
    """Saves a kind of model into a folder and loads it back."""

    name: str

    def accepts(self, model: Any) -> bool:
        """Whether this format can save ``model``."""
        ...

    def save(self, model: Any, folder: Path, example: Any = None) -> dict[str, Any]:
        """Writes ``model`` under ``folder`` (``example``: an input batch, for formats that
        need one); returns details to keep (library versions...)."""
        ...

    def load(self, folder: Path, details: dict[str, Any], *, trust: bool) -> Any:
        """The model object back, with a ``predict(batch)`` method."""
        ...


class SkopsFormat:
    """scikit-learn estimators and pipelines, saved with skops (no pickle)."""

    name = "skops"
    _FILE = "model.skops"

    def accepts(self, model: Any) -> bool:
        try:
            from sklearn.base import BaseEstimator
        except ImportError:
            return False
        return isinstance(model, BaseEstimator)

    def save(self, model: Any, folder: Path, example: Any = None) -> dict[str, Any]:
        sio = _skops()
        sio.dump(model, folder / self._FILE)
        return {"libraries": _versions("scikit-learn", "skops", "numpy")}

    def load(self, folder: Path, details: dict[str, Any], *, trust: bool) -> Any:
        sio = _skops()
        path = folder / self._FILE
        untrusted = sio.get_untrusted_types(file=path)
        if untrusted and not trust:
            raise TrustRequiredError(
                f"the model uses types skops does not trust by default ({', '.join(untrusted)});"
                " load it with trust=True if you trust where it came from"
            )
        return sio.load(path, trusted=untrusted)


class NumpyFormat:
    """:class:`NumpyModel`: arrays in an ``.npz`` (loaded without pickle) and the function."""

    name = "numpy"

    def accepts(self, model: Any) -> bool:
        return isinstance(model, NumpyModel)

    def save(self, model: NumpyModel, folder: Path, example: Any = None) -> dict[str, Any]:
        import numpy as np

        resolve_function(model.function)  # fail now, not at load time elsewhere
        for name, array in model.arrays.items():
            if np.asarray(array).dtype == object:
                raise UnsupportedModelError(f"array {name!r} holds Python objects; use numbers")
        arrays: dict[str, Any] = {k: np.asarray(v) for k, v in model.arrays.items()}
        np.savez(folder / "arrays.npz", **arrays)
        (folder / "model.json").write_text(
            json.dumps({"function": model.function, "extra": model.extra})
        )
        return {"libraries": _versions("numpy")}

    def load(self, folder: Path, details: dict[str, Any], *, trust: bool) -> NumpyModel:
        import numpy as np

        meta = json.loads((folder / "model.json").read_text())
        with np.load(folder / "arrays.npz", allow_pickle=False) as arrays:
            loaded = {k: arrays[k] for k in arrays.files}
        return NumpyModel(loaded, meta["function"], meta.get("extra", {}))


class OnnxFormat:
    """ONNX graphs run with onnxruntime; scikit-learn models are converted with skl2onnx when
    this format is asked for (``pip install 'aidot[onnx]'``)."""

    name = "onnx"
    _FILE = "model.onnx"

    def accepts(self, model: Any) -> bool:
        return type(model).__name__ == "ModelProto" and type(model).__module__.startswith("onnx")

    def save(self, model: Any, folder: Path, example: Any = None) -> dict[str, Any]:
        if not self.accepts(model):
            model = _to_onnx(model, example)
        (folder / self._FILE).write_bytes(model.SerializeToString())
        return {"libraries": _versions("onnx", "onnxruntime", "skl2onnx", "scikit-learn")}

    def load(self, folder: Path, details: dict[str, Any], *, trust: bool) -> Any:
        try:
            import onnxruntime
        except ImportError:
            raise UnsupportedModelError(
                "this model is ONNX and runs with onnxruntime: pip install 'aidot[onnx]'"
            ) from None
        session = onnxruntime.InferenceSession(
            str(folder / self._FILE), providers=["CPUExecutionProvider"]
        )
        return OnnxPredictor(session)


class OnnxPredictor:
    """An onnxruntime session behind ``predict(batch)``: the first input, the first output."""

    def __init__(self, session: Any) -> None:
        self.session = session
        self.input_name = session.get_inputs()[0].name

    def predict(self, batch: Any) -> Any:
        return self.session.run(None, {self.input_name: batch})[0]


def _to_onnx(model: Any, example: Any) -> Any:
    import numpy as np

    try:
        from skl2onnx import to_onnx
        from sklearn.base import BaseEstimator, is_classifier
    except ImportError:
        raise UnsupportedModelError(
            "converting to ONNX needs skl2onnx: pip install 'aidot[onnx]'"
        ) from None
    if not isinstance(model, BaseEstimator):
        raise UnsupportedModelError(
            f"only scikit-learn models convert to ONNX here, not {type(model).__name__}; pass "
            "an onnx.ModelProto"
        )
    if example is None:
        raise InvalidArgumentError("converting to ONNX needs input_example= (a small batch)")
    final = model.steps[-1][1] if hasattr(model, "steps") else model
    # Plain arrays of labels rather than a list of {class: probability} dicts.
    options = {id(final): {"zipmap": False}} if is_classifier(final) else None
    return to_onnx(model, np.asarray(example)[:1], options=options)


class CloudpickleFormat:
    """Any object with ``predict``, pickled with cloudpickle: loads only with ``trust=True``."""

    name = "cloudpickle"
    _FILE = "model.pkl"

    def accepts(self, model: Any) -> bool:
        return callable(getattr(model, "predict", None))

    def save(self, model: Any, folder: Path, example: Any = None) -> dict[str, Any]:
        try:
            import cloudpickle
        except ImportError:
            raise UnsupportedModelError(
                f"{type(model).__name__} can only be saved pickled, which needs cloudpickle: "
                "pip install 'aidot[pickle]'"
            ) from None
        (folder / self._FILE).write_bytes(cloudpickle.dumps(model))
        return {"libraries": _versions("cloudpickle")}

    def load(self, folder: Path, details: dict[str, Any], *, trust: bool) -> Any:
        if not trust:
            raise TrustRequiredError(
                "this model was saved with pickle (cloudpickle), and loading a pickle runs "
                "whatever code it contains; load it with trust=True only if you trust its "
                "origin, or save the model in a safe format (skops, numpy)"
            )
        import pickle

        return pickle.loads((folder / self._FILE).read_bytes())


FORMATS: dict[str, ModelFormat] = {
    f.name: f
    for f in (NumpyFormat(), OnnxFormat(), SkopsFormat(), TorchFormat(), CloudpickleFormat())
}
"""Formats by name, in the order :func:`detect` tries them."""


def detect(model: Any) -> ModelFormat:
    """The first format that accepts ``model``."""
    for fmt in FORMATS.values():
        if fmt.accepts(model):
            return fmt
    raise UnsupportedModelError(
        f"no model format can save a {type(model).__module__}.{type(model).__qualname__}: "
        "pass a scikit-learn estimator, a PyTorch module, an ONNX model, an aidot NumpyModel, "
        "or an object with predict()"
    )


def choose(model: Any, name: str | None) -> ModelFormat:
    """The format named ``name`` (which must be able to save ``model``), else :func:`detect`."""
    if name is None:
        return detect(model)
    fmt = FORMATS.get(name)
    if fmt is None:
        raise InvalidArgumentError(
            f"unknown model format {name!r}; formats are {', '.join(FORMATS)}"
        )
    if fmt.name == "onnx" or fmt.accepts(model):
        return fmt  # onnx converts scikit-learn models on save
    raise UnsupportedModelError(f"format {name!r} cannot save a {type(model).__name__}")


def get(name: str) -> ModelFormat:
    """The format named ``name`` (as recorded in a model version)."""
    try:
        return FORMATS[name]
    except KeyError:
        raise IntegrityError(
            f"this model was saved in format {name!r}, which this aidot does not know; "
            "upgrade aidot"
        ) from None


def _skops() -> Any:
    try:
        import skops.io as sio
    except ImportError:
        raise UnsupportedModelError(
            "scikit-learn models are saved with skops: pip install 'aidot[sklearn]'"
        ) from None
    return sio


def _versions(*packages: str) -> dict[str, str]:
    out = {}
    for package in packages:
        try:
            out[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            continue
    return out
