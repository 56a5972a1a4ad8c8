"""The workspace: one metadata store and one blob store, shared by every component.

Configuration comes from keyword arguments, then ``AIDOT_*`` environment variables, then
defaults::

    Workspace()                                   # $AIDOT_HOME, else ./.aidot
    Workspace("./runs")                           # ./runs/aidot.db + ./runs/blobs
    Workspace(db="postgresql://me@db/aidot", blobs="/mnt/shared/blobs")

Nothing is opened until first use: ``ws.store`` opens (and migrates) the database, ``ws.blobs``
opens the blob folder.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from aidot._lifecycle import ClosesOnExit
from aidot.errors import InvalidArgumentError

if TYPE_CHECKING:
    from aidot._verify import WorkspaceReport
    from aidot.blobs import BlobStore, GcReport
    from aidot.data import DataVersionControl
    from aidot.registry import ModelRegistry
    from aidot.serving import ModelRepository
    from aidot.store import MetadataStore
    from aidot.tracking import ExperimentTracker
    from aidot.tuning import Study, StudyDirection
    from aidot.tuning.pruners import BasePruner
    from aidot.tuning.samplers import HyperparameterOptimizer

__all__ = ["Workspace", "default_workspace", "resolve_home"]

DEFAULT_HOME = ".aidot"
DB_FILE = "aidot.db"
BLOBS_DIR = "blobs"
SPOOL_DIR = "spool"
STAT_CACHE_DIR = "statcache"
REMOTE_CACHE_DIR = "remotes"


def resolve_home(path: str | os.PathLike[str] | None = None) -> Path:
    """The workspace folder: ``path``, else ``$AIDOT_HOME``, else ``./.aidot``."""
    if path is not None:
        return Path(path).expanduser()
    env = os.environ.get("AIDOT_HOME")
    return Path(env).expanduser() if env else Path(DEFAULT_HOME)


class Workspace(ClosesOnExit):
    """A metadata database plus a blob folder, the two stores every aidot component uses.

    ``path`` is a folder holding ``aidot.db`` (SQLite) and ``blobs/``. ``db`` (a SQLAlchemy URI,
    ``sqlite:///...`` or ``postgresql://...``) and ``blobs`` (a folder or ``file://`` URI)
    override either part. Without ``path``, ``$AIDOT_HOME`` names the folder, and
    ``$AIDOT_DB_URI`` / ``$AIDOT_BLOB_URI`` override the parts.
    """

    def __init__(
        self,
        path: str | os.PathLike[str] | None = None,
        *,
        db: str | None = None,
        blobs: str | os.PathLike[str] | None = None,
    ) -> None:
        explicit = path is not None
        self.home = resolve_home(path).absolute()
        env_db = None if explicit else os.environ.get("AIDOT_DB_URI")
        env_blobs = None if explicit else os.environ.get("AIDOT_BLOB_URI")
        self.db_uri = db or env_db or f"sqlite:///{self.home / DB_FILE}"
        self.blob_root = _blob_folder(blobs or env_blobs or self.home / BLOBS_DIR)
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"Workspace(db={self.db_uri!r}, blobs={str(self.blob_root)!r})"

    @cached_property
    def store(self) -> MetadataStore:
        """The metadata store, opened and migrated on first use."""
        from aidot.store import MetadataStore

        with self._lock:
            # cached_property does not lock: a second thread may get here meanwhile.
            opened = self.__dict__.get("store")
            if opened is not None:
                return opened  # type: ignore[no-any-return]
            if self.db_uri.startswith("sqlite:///"):
                Path(self.db_uri.removeprefix("sqlite:///")).parent.mkdir(
                    parents=True, exist_ok=True
                )
            return MetadataStore(self.db_uri)

    @cached_property
    def blobs(self) -> BlobStore:
        """The blob store, opened on first use."""
        from aidot.blobs import BlobStore

        return BlobStore(self.blob_root)

    @cached_property
    def tracker(self) -> ExperimentTracker:
        """Experiment tracking on this workspace (see :mod:`aidot.tracking`)."""
        from aidot.tracking import ExperimentTracker
        from aidot.tracking._liveness import HEARTBEAT_INTERVAL_S

        interval = float(os.environ.get("AIDOT_HEARTBEAT_INTERVAL", HEARTBEAT_INTERVAL_S))
        return ExperimentTracker(
            self.store, self.blobs, spool_dir=self.home / SPOOL_DIR, heartbeat_interval=interval
        )

    @cached_property
    def data(self) -> DataVersionControl:
        """Data version control on this workspace (see :mod:`aidot.data`)."""
        from aidot.data import DataVersionControl

        return DataVersionControl(
            self.store, self.blobs, self.home / STAT_CACHE_DIR, self.home / REMOTE_CACHE_DIR
        )

    @cached_property
    def registry(self) -> ModelRegistry:
        """The model registry of this workspace (see :mod:`aidot.registry`)."""
        from aidot.registry import ModelRegistry

        return ModelRegistry(self.store, self.blobs)

    @cached_property
    def repository(self) -> ModelRepository:
        """Models served from this workspace's registry (see :mod:`aidot.serving`)."""
        from aidot.serving import ModelRepository

        return ModelRepository(self.registry)

    def create_study(
        self,
        study_name: str | None = None,
        *,
        direction: StudyDirection | str | None = None,
        directions: Sequence[StudyDirection | str] | None = None,
        sampler: HyperparameterOptimizer | None = None,
        pruner: BasePruner | None = None,
        load_if_exists: bool = False,
        experiment: str | None = None,
        heartbeat_timeout: float | None = None,
    ) -> Study:
        """Creates a hyperparameter-tuning study (see :mod:`aidot.tuning`), as
        ``optuna.create_study``: ``direction`` ``"minimize"`` (default) or ``"maximize"``, or
        ``directions`` for several objectives; ``sampler`` defaults to
        :class:`~aidot.tuning.samplers.AutoSampler`, ``pruner`` to
        :class:`~aidot.tuning.MedianPruner`. The study's tracking run goes in ``experiment``
        (default: an experiment named after the study). A trial whose worker sends no
        heartbeat for ``heartbeat_timeout`` seconds (default 60) is marked FAIL."""
        from aidot.tuning._create import create_study

        return create_study(
            self,
            study_name=study_name,
            direction=direction,
            directions=directions,
            sampler=sampler,
            pruner=pruner,
            load_if_exists=load_if_exists,
            experiment=experiment,
            heartbeat_timeout=heartbeat_timeout,
        )

    def load_study(
        self,
        study_name: str,
        *,
        sampler: HyperparameterOptimizer | None = None,
        pruner: BasePruner | None = None,
        heartbeat_timeout: float | None = None,
    ) -> Study:
        """Opens an existing study (another worker's, or an earlier session's);
        :class:`~aidot.errors.NotFoundError` when there is none by that name."""
        from aidot.tuning._create import load_study

        return load_study(
            self,
            study_name=study_name,
            sampler=sampler,
            pruner=pruner,
            heartbeat_timeout=heartbeat_timeout,
        )

    def delete_study(self, study_name: str) -> None:
        """Deletes a study and its trials; the trials' tracking runs stay."""
        from aidot.tuning._storage import TrialStore

        TrialStore(self.store).delete_study(study_name)

    def study_names(self) -> list[str]:
        """The names of the workspace's studies, oldest first."""
        from aidot.tuning._storage import TrialStore

        return [record.name for record, _ in TrialStore(self.store).list_studies()]

    def init(self) -> Workspace:
        """Creates (or checks) both stores now rather than on first use; returns ``self``."""
        _ = self.store, self.blobs
        return self

    def gc(self, *, grace_seconds: float | None = None) -> GcReport:
        """Deletes blobs that no component references any more (see :meth:`BlobStore.gc`)."""
        from aidot.blobs import DEFAULT_GC_GRACE_SECONDS

        grace = DEFAULT_GC_GRACE_SECONDS if grace_seconds is None else grace_seconds
        return self.blobs.gc(self.store.live_digests(), grace_seconds=grace)

    def verify(self, *, every_blob: bool = False) -> WorkspaceReport:
        """Checks the whole workspace: the database file (SQLite's ``quick_check``), and
        every reference (dataset versions, checkpoints, model versions, run artifacts)
        resolving to content with its digest, each referenced blob re-hashed once.
        ``every_blob`` re-hashes unreferenced blobs too and reports damaged packs.
        ``report.ok`` tells; each of ``report.problems`` names its owner (``aidot verify``
        prints them)."""
        from aidot._verify import verify_workspace

        if "tracker" in self.__dict__:
            self.tracker.flush()  # what is still queued for the database counts too
        return verify_workspace(self, every_blob=every_blob)

    def close(self) -> None:
        """Flushes pending metrics and releases database connections; the workspace reopens
        on next use."""
        if "tracker" in self.__dict__:
            self.__dict__.pop("tracker").close()
        self.__dict__.pop("data", None)
        if "repository" in self.__dict__:
            self.__dict__.pop("repository").close()
        self.__dict__.pop("registry", None)
        if "store" in self.__dict__:
            self.__dict__.pop("store").close()


def _blob_folder(value: str | os.PathLike[str]) -> Path:
    text = os.fspath(value)
    if text.startswith("file://"):
        return Path(text.removeprefix("file://")).absolute()
    scheme = text.partition("://")[0] if "://" in text else ""
    if scheme:
        raise InvalidArgumentError(
            f"blob store {text!r}: only local folders (a path or file:// URI) are supported "
            "by this version of aidot"
        )
    return Path(text).expanduser().absolute()


_default: Workspace | None = None
_default_lock = threading.Lock()


def default_workspace() -> Workspace:
    """The workspace the module-level helpers use, resolved from the environment once."""
    global _default  # noqa: PLW0603 - a process-wide default, as mlflow's tracking URI
    with _default_lock:
        if _default is None:
            _default = Workspace()
        return _default
