"""Run artifacts: files logged by a run, kept in the blob store and listed per run."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from aidot._paths import refuse_links_on_the_way
from aidot.errors import IntegrityError, InvalidArgumentError, NotFoundError
from aidot.store._schema import run_artifacts
from aidot.tracking._ops import Op

if TYPE_CHECKING:
    from aidot.blobs import BlobStore
    from aidot.store import MetadataStore


@dataclass(frozen=True)
class ArtifactInfo:
    """One logged file: its path in the run's artifact tree, blob digest and size."""

    path: str
    digest: str
    size: int


def clean_artifact_path(path: str) -> str:
    """A relative POSIX path that stays inside the run's artifact tree."""
    if not isinstance(path, str) or not path.strip():
        raise InvalidArgumentError("artifact paths must be non-empty strings")
    pure = PurePosixPath(path.replace("\\", "/"))
    if pure.is_absolute() or ".." in pure.parts or len(str(pure)) > 1024:
        raise InvalidArgumentError(
            f"artifact path {path!r} must be relative, without '..', at most 1024 characters"
        )
    return str(pure)


def join(prefix: str | None, name: str) -> str:
    return clean_artifact_path(f"{prefix}/{name}" if prefix else name)


class ArtifactStore:
    """Records a run's artifacts: bytes in the blob store, paths in the metadata store, and a
    blob reference per run so that blob garbage collection keeps them."""

    def __init__(
        self, store: MetadataStore, blobs: BlobStore, record: Callable[[Op], object]
    ) -> None:
        self._store = store
        self._blobs = blobs
        self._record_op = record

    @property
    def blobs(self) -> BlobStore:
        return self._blobs

    def log_files(self, run_id: str, files: Iterable[tuple[Path, str]]) -> list[ArtifactInfo]:
        """Stores ``(local file, artifact path)`` pairs in one batch."""
        pairs = [(Path(local), clean_artifact_path(path)) for local, path in files]
        reports = self._blobs.put_files_report([local for local, _ in pairs])
        infos = [
            ArtifactInfo(path, r.digest, r.size)
            for (_, path), r in zip(pairs, reports, strict=True)
        ]
        self._record(run_id, infos)
        return infos

    def log_bytes(self, run_id: str, data: bytes, path: str) -> ArtifactInfo:
        """Stores ``data`` as the artifact ``path``."""
        info = ArtifactInfo(clean_artifact_path(path), self._blobs.put_bytes(data), len(data))
        self._record(run_id, [info])
        return info

    def entries(self, run_id: str, prefix: str | None = None) -> list[ArtifactInfo]:
        """The run's artifacts (under ``prefix`` if given), sorted by path."""
        import sqlalchemy as sa

        query = sa.select(run_artifacts).where(run_artifacts.c.run_id == run_id)
        if prefix:
            clean = clean_artifact_path(prefix)
            query = query.where(
                (run_artifacts.c.path == clean) | run_artifacts.c.path.startswith(f"{clean}/")
            )
        with self._store.read() as conn:
            rows = conn.execute(query.order_by(run_artifacts.c.path)).all()
        return [ArtifactInfo(r.path, r.digest, r.size) for r in rows]

    def download(self, run_id: str, path: str, dest: str | os.PathLike[str]) -> list[Path]:
        """Writes the artifact ``path`` (a file, or every file under a folder) into ``dest``,
        keeping relative paths; returns the files written."""
        clean = clean_artifact_path(path)
        found = self.entries(run_id, clean)
        if not found:
            raise NotFoundError(f"run {run_id} has no artifact {clean!r}")
        base = PurePosixPath(clean).parent
        relatives = []
        for info in found:
            # A row whose path is not clean was not written by aidot (``d/../../x``): refuse
            # it rather than write wherever it points.
            try:
                forged = clean_artifact_path(info.path) != info.path
            except InvalidArgumentError:
                forged = True
            if forged:
                raise IntegrityError(
                    f"run {run_id} records an artifact at {info.path!r}, which is not a clean "
                    "relative path; nothing was written (the row was not made by aidot)"
                )
            relatives.append(str(PurePosixPath(info.path).relative_to(base)))
        root = Path(dest).absolute()
        refuse_links_on_the_way(root, relatives)
        written = []
        for info, relative in zip(found, relatives, strict=True):
            target = root / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            self._blobs.export(info.digest, target)
            written.append(target)
        return written

    def _record(self, run_id: str, infos: list[ArtifactInfo]) -> None:
        if infos:
            self._record_op(Op("artifacts", run_id, [[i.path, i.digest, i.size] for i in infos]))


def dict_bytes(data: Any, path: str) -> bytes:
    """A dict serialised by the artifact's extension: JSON, or YAML when PyYAML is installed."""
    if path.endswith((".yaml", ".yml")):
        try:
            import yaml
        except ImportError:
            raise InvalidArgumentError(
                f"{path!r} asks for YAML but PyYAML is not installed; use a .json name "
                "or pip install pyyaml"
            ) from None
        return str(yaml.safe_dump(data, sort_keys=False)).encode()
    return json.dumps(data, indent=2, sort_keys=False, default=str).encode()
