"""Model formats: how a model object is saved into a folder and loaded back as a predictor.

Each format saves without pickle where the library allows it:

- ``skops``: scikit-learn estimators and pipelines, through skops (no pickle; only types skops
  trusts load unless ``trust=True``);
- ``numpy``: a :class:`NumpyModel`, a few named arrays and an importable function;
- ``cloudpickle``: any other object with ``predict``, which loads only with ``trust=True``.

:func:`detect` picks the format from the object; ONNX and PyTorch formats are not there yet.
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

__all__ = ["FORMATS", "ModelFormat", "NumpyModel", "detect", "get"]


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

    def save(self, model: Any, folder: Path) -> dict[str, Any]:
        """Writes ``model`` under ``folder``; returns details to keep (library versions...)."""
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

    def save(self, model: Any, folder: Path) -> dict[str, Any]:
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

    def save(self, model: NumpyModel, folder: Path) -> dict[str, Any]:
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


class CloudpickleFormat:
    """Any object with ``predict``, pickled with cloudpickle: loads only with ``trust=True``."""

    name = "cloudpickle"
    _FILE = "model.pkl"

    def accepts(self, model: Any) -> bool:
        return callable(getattr(model, "predict", None))

    def save(self, model: Any, folder: Path) -> dict[str, Any]:
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
    f.name: f for f in (NumpyFormat(), SkopsFormat(), CloudpickleFormat())
}
"""Formats by name, in the order :func:`detect` tries them."""


def detect(model: Any) -> ModelFormat:
    """The first format that accepts ``model``."""
    for fmt in FORMATS.values():
        if fmt.accepts(model):
            return fmt
    raise UnsupportedModelError(
        f"no model format can save a {type(model).__module__}.{type(model).__qualname__}: "
        "pass a scikit-learn estimator, an aidot NumpyModel, or an object with predict()"
    )


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
