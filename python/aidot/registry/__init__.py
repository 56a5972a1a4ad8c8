"""The model registry: immutable model versions with lineage, stages, aliases and history."""

from aidot.registry._registry import ModelRegistry
from aidot.registry._servable import ServableModel, TensorSpec, infer_signature
from aidot.registry._types import HistoryEvent, Lineage, ModelVersion, RegisteredModel
from aidot.registry._uri import ALLOWED, STAGES
from aidot.registry.formats import NumpyModel, TorchModel

__all__ = [
    "ALLOWED",
    "STAGES",
    "HistoryEvent",
    "Lineage",
    "ModelRegistry",
    "ModelVersion",
    "NumpyModel",
    "RegisteredModel",
    "ServableModel",
    "TensorSpec",
    "TorchModel",
    "infer_signature",
]
