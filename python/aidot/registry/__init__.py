"""The model registry: immutable model versions with lineage, stages, aliases and history."""

from aidot.registry._registry import HistoryEvent, ModelRegistry, ModelVersion, RegisteredModel
from aidot.registry._uri import ALLOWED, STAGES

__all__ = [
    "ALLOWED",
    "STAGES",
    "HistoryEvent",
    "ModelRegistry",
    "ModelVersion",
    "RegisteredModel",
]
