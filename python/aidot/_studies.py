"""Module-level tuning helpers, as ``optuna.create_study`` and co.

``storage`` is where the study lives: a workspace, a database URI (``sqlite:///...``,
``postgresql://...``) or a workspace folder; the default workspace without it.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from aidot.tuning import Study, StudyDirection
    from aidot.tuning.pruners import BasePruner
    from aidot.tuning.samplers import HyperparameterOptimizer
    from aidot.workspace import Workspace


def create_study(
    *,
    storage: Workspace | str | os.PathLike[str] | None = None,
    sampler: HyperparameterOptimizer | None = None,
    pruner: BasePruner | None = None,
    study_name: str | None = None,
    direction: StudyDirection | str | None = None,
    load_if_exists: bool = False,
    directions: Sequence[StudyDirection | str] | None = None,
) -> Study:
    """Creates a study (see :meth:`aidot.Workspace.create_study`) in ``storage``."""
    return _workspace(storage).create_study(
        study_name,
        direction=direction,
        directions=directions,
        sampler=sampler,
        pruner=pruner,
        load_if_exists=load_if_exists,
    )


def load_study(
    *,
    study_name: str,
    storage: Workspace | str | os.PathLike[str] | None = None,
    sampler: HyperparameterOptimizer | None = None,
    pruner: BasePruner | None = None,
) -> Study:
    """Opens an existing study in ``storage``."""
    return _workspace(storage).load_study(study_name, sampler=sampler, pruner=pruner)


def delete_study(
    *, study_name: str, storage: Workspace | str | os.PathLike[str] | None = None
) -> None:
    """Deletes a study and its trials from ``storage``."""
    _workspace(storage).delete_study(study_name)


def get_all_study_names(storage: Workspace | str | os.PathLike[str] | None = None) -> list[str]:
    """The names of the studies in ``storage``."""
    return _workspace(storage).study_names()


_opened: dict[str, Workspace] = {}


def _workspace(storage: Workspace | str | os.PathLike[str] | None) -> Workspace:
    from aidot.workspace import Workspace, default_workspace

    if storage is None:
        return default_workspace()
    if isinstance(storage, Workspace):
        return storage
    text = os.fspath(storage)
    if text not in _opened:  # one workspace per URI: one tracker, one heartbeat
        _opened[text] = Workspace(db=text) if "://" in text else Workspace(text)
    return _opened[text]
