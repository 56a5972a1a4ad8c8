"""What the registry returns: models, versions, history events, lineage."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class RegisteredModel:
    """A named model and its latest version number (0 when it has none yet)."""

    name: str
    description: str
    tags: dict[str, str]
    created_at: int
    latest_version: int


@dataclass(frozen=True)
class ModelVersion:
    """One immutable version of a model."""

    name: str
    version: int
    id: str
    stage: str
    source: dict[str, Any]
    """What the version holds: ``{"kind": "files", "manifest": DIGEST, ...}`` for stored files,
    ``{"kind": "checkpoint", "checkpoint_id": ..., "manifest": DIGEST}`` for a checkpoint."""
    run_id: str | None
    lineage: dict[str, Any]
    """``datasets`` (refs used by the run), ``checkpoint`` (id), ``replaces`` (version)."""
    signature: dict[str, Any] | None
    metrics: dict[str, float]
    description: str
    tags: dict[str, str]
    created_at: int
    aliases: list[str] = field(default_factory=list)

    @property
    def uri(self) -> str:
        """``models:/NAME/N``."""
        return f"models:/{self.name}/{self.version}"


@dataclass(frozen=True)
class HistoryEvent:
    """One entry of a model's append-only audit history."""

    name: str
    version: int
    event: str
    """``created``, ``stage``, ``alias``, ``unalias`` or ``deleted``."""
    target: str
    previous: str | None
    actor: str
    comment: str
    at: int


@dataclass(frozen=True)
class Lineage:
    """Where a model version came from (see :meth:`ModelRegistry.lineage`)."""

    version: ModelVersion
    run: Any
    """The training run's :class:`~aidot.tracking.RunInfo` (params, metrics, context), if any."""
    datasets: list[dict[str, Any]]
    """``{"ref", "files", "bytes", "manifest"}`` per dataset version the run used."""
    checkpoint: dict[str, Any] | None
    replaces: int | None
    """The version that was in Production when this one was created."""
