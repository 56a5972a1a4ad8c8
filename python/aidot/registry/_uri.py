"""``models:/`` URIs: ``models:/NAME/3``, ``models:/NAME@Production``, ``models:/NAME@champion``."""

from __future__ import annotations

from dataclasses import dataclass

from aidot import _names
from aidot.errors import InvalidArgumentError

STAGES = ("Development", "Staging", "Production", "Archived")

ALLOWED: dict[str, tuple[str, ...]] = {
    "Development": ("Staging", "Production", "Archived"),
    "Staging": ("Development", "Production", "Archived"),
    "Production": ("Staging", "Archived"),
    "Archived": ("Development",),
}
"""Stage transitions: forward freely, back one step, and out of Archived only to Development
(an archived version is re-qualified before it can serve again)."""


@dataclass(frozen=True)
class ModelRef:
    """A parsed URI: a version number, or a stage, or an alias."""

    name: str
    version: int | None = None
    stage: str | None = None
    alias: str | None = None


def check_name(value: str, what: str = "model name") -> str:
    return _names.check_name(value, what)


def stage_name(value: str) -> str | None:
    """The canonical stage for ``value`` (any case), or ``None`` if it is not a stage."""
    for stage in STAGES:
        if stage.lower() == value.lower():
            return stage
    return None


def parse(uri: str) -> ModelRef:
    """Splits ``models:/NAME/VERSION`` or ``models:/NAME@STAGE_OR_ALIAS``."""
    if not isinstance(uri, str) or not uri.startswith("models:/"):
        raise InvalidArgumentError(
            f"{uri!r} is not a model URI; use models:/NAME/3, models:/NAME@Production or "
            "models:/NAME@ALIAS"
        )
    rest = uri.removeprefix("models:/")
    if "@" in rest:
        name, _, label = rest.partition("@")
        check_name(name)
        stage = stage_name(label)
        if stage is not None:
            return ModelRef(name, stage=stage)
        return ModelRef(name, alias=check_name(label, "alias"))
    name, slash, number = rest.partition("/")
    check_name(name)
    if not slash or not number.isdigit():
        raise InvalidArgumentError(
            f"{uri!r} names no version; use models:/{name}/3 or models:/{name}@Production"
        )
    return ModelRef(name, version=int(number))
