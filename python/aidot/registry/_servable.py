"""ServableModel: a loaded model version with its signature, ready to ``predict(batch)``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aidot.errors import SignatureMismatchError


@dataclass(frozen=True)
class TensorSpec:
    """One input or output: a name, a dtype and a shape (-1 for any size)."""

    name: str
    dtype: str
    shape: tuple[int, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "dtype": self.dtype, "shape": list(self.shape)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TensorSpec:
        return cls(str(data["name"]), str(data["dtype"]), tuple(int(d) for d in data["shape"]))


def infer_signature(example: Any, output: Any) -> dict[str, Any]:
    """A signature from an input example and the model's output for it: dtypes as given,
    the batch dimension as -1."""
    import numpy as np

    def spec(name: str, value: Any) -> dict[str, Any]:
        array = np.asarray(value)
        shape = (-1, *array.shape[1:]) if array.ndim else ()
        return TensorSpec(name, array.dtype.str, shape).to_dict()

    return {"inputs": [spec("input", example)], "outputs": [spec("output", output)]}


class ServableModel:
    """A model version loaded for inference: ``predict(batch)`` on a NumPy batch returns a
    NumPy array, after checking the batch against the version's signature (when it has one)."""

    def __init__(
        self,
        name: str,
        version: int,
        model: Any,
        signature: dict[str, Any] | None,
        model_format: str,
    ) -> None:
        self.name = name
        self.version = version
        self.model = model
        """The underlying object (an estimator, a NumpyModel...)."""
        self.format = model_format
        self.signature = signature
        self._input = (
            TensorSpec.from_dict(signature["inputs"][0])
            if signature and signature.get("inputs")
            else None
        )

    def __repr__(self) -> str:
        return f"ServableModel(models:/{self.name}/{self.version}, format={self.format!r})"

    def predict(self, batch: Any) -> Any:
        """The model's predictions for ``batch`` (rows along the first axis)."""
        import numpy as np

        array = np.asarray(batch)
        spec = self._input
        if spec is not None:
            expected = np.dtype(spec.dtype)
            if len(spec.shape) != array.ndim or any(
                want not in (-1, got) for want, got in zip(spec.shape, array.shape, strict=True)
            ):
                raise SignatureMismatchError(
                    f"models:/{self.name}/{self.version} takes input shape {list(spec.shape)} "
                    f"(-1: any), got {list(array.shape)}"
                )
            if not np.can_cast(array.dtype, expected, "same_kind"):
                raise SignatureMismatchError(
                    f"models:/{self.name}/{self.version} takes {expected}, got {array.dtype}; "
                    "convert the batch first"
                )
            array = array.astype(expected, copy=False)
        return np.asarray(self.model.predict(array))
