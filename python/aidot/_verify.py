"""Verifying a whole workspace: the database file, every blob, and every reference to a blob.

A reference (a row of ``aidot_blob_refs``, written in the same transaction as the dataset
version, checkpoint, model version or artifact that needs it) must resolve to a stored blob
whose content hashes to its digest. ``verify_workspace`` re-hashes every referenced blob once (in
parallel, in Rust), then checks each reference against what it found and names the owner in
words a user recognises: ``dataset corpus@v2 (part1/a.txt)``, ``model churn/3``,
``checkpoint ... of run ...``, ``run ... artifact plots/loss.png``.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import sqlalchemy as sa

    from aidot.workspace import Workspace


@dataclass(frozen=True)
class Problem:
    """One reference that does not resolve: who holds it, to which blob, and what is wrong."""

    owner: str
    """The holder in words: ``dataset corpus@v2 (a.txt)``, ``model churn/3``, ..."""
    digest: str
    detail: str
    """``missing from the blob store``, or what is damaged."""

    def __str__(self) -> str:
        return f"{self.owner}: blob {self.digest} {self.detail}"


@dataclass
class WorkspaceReport:
    """The outcome of :meth:`aidot.Workspace.verify`."""

    database: list[str] = field(default_factory=list)
    """What the database engine found wrong with its file (empty when sound)."""
    blobs_checked: int = 0
    """Distinct blobs re-hashed: every one that some reference names (every stored one with
    ``every_blob``)."""
    references_checked: int = 0
    problems: list[Problem] = field(default_factory=list)
    """Every reference whose blob is missing or damaged, by owner."""
    unreferenced_damaged: dict[str, str] = field(default_factory=dict)
    """With ``every_blob``: damaged blobs nothing references (nothing is lost; gc removes
    them), digest -> what is wrong."""
    damaged_packs: dict[str, str] = field(default_factory=dict)
    """With ``every_blob``: packs whose index could not be rebuilt (see
    :attr:`aidot.blobs.VerifyReport.damaged_packs`)."""

    @property
    def ok(self) -> bool:
        """True when the database is sound and every reference resolves to intact content."""
        return not self.database and not self.problems


def verify_workspace(ws: Workspace, *, every_blob: bool = False) -> WorkspaceReport:
    """Checks the database file, then re-hashes every referenced blob (every stored one with
    ``every_blob``, each once) and names the owners of those missing or damaged."""
    from aidot.blobs import MISSING
    from aidot.errors import StorageError

    store = ws.store
    report = WorkspaceReport(database=store.check_integrity())
    try:
        references = store.blob_references()
    except StorageError as exc:
        if not report.database:
            raise
        report.database.append(f"the blob references cannot be read: {exc}")
        return report
    report.references_checked = len(references)
    if every_blob:
        checked = ws.blobs.verify()
        stored = set(ws.blobs)
        findings = dict(checked.corrupt)
        findings.update({d: MISSING for _, d in references if d not in stored})
        referenced = {d for _, d in references}
        report.unreferenced_damaged = {
            d: why for d, why in checked.corrupt.items() if d not in referenced
        }
        report.damaged_packs = dict(checked.damaged_packs)
    else:
        checked = ws.blobs.verify_each(digest for _, digest in references)
        findings = checked.corrupt
    report.blobs_checked = checked.checked
    bad: dict[str, dict[str, str]] = defaultdict(dict)  # owner -> digest -> detail
    for owner, digest in references:
        why = findings.get(digest)
        if why is not None:
            bad[owner][digest] = f"is {why}" if why == MISSING else f"is damaged: {why}"
    if bad:
        with store.read() as conn:
            report.problems = _name_owners(conn, ws, bad)
    return report


def _name_owners(
    conn: sa.Connection, ws: Workspace, bad: dict[str, dict[str, str]]
) -> list[Problem]:
    """The bad references, each under the name its owner goes by."""
    problems = []
    for owner, digests in sorted(bad.items()):
        kind, _, key = owner.partition(":")
        named = _NAMERS.get(kind)
        places = named(conn, ws, key, set(digests)) if named is not None else {}
        for digest, detail in sorted(digests.items()):
            for place in places.get(digest) or [owner]:
                problems.append(Problem(place, digest, detail))
    return problems


def _dataset_places(
    conn: sa.Connection, ws: Workspace, name: str, digests: set[str]
) -> dict[str, list[str]]:
    import sqlalchemy as sa

    from aidot.errors import AidotError
    from aidot.store._schema import dataset_versions

    query = (
        sa.select(dataset_versions.c.version, dataset_versions.c.manifest)
        .where(dataset_versions.c.dataset == name)
        .order_by(dataset_versions.c.version)
    )
    places: dict[str, list[str]] = defaultdict(list)
    for version, manifest in conn.execute(query):
        ref = f"dataset {name}@v{version}"
        if manifest in digests:
            places[manifest].append(f"{ref} (its manifest)")
            continue
        try:
            files = ws.data.get(f"{name}@v{version}").files
        except AidotError:  # its manifest is unreadable: reported as a reference of its own
            continue
        for path, entry in files.items():
            if entry.digest in digests:
                places[entry.digest].append(f"{ref} ({path})")
    return places


def _model_places(
    conn: sa.Connection, _ws: Workspace, version_id: str, digests: set[str]
) -> dict[str, list[str]]:
    import sqlalchemy as sa

    from aidot.store._schema import model_versions

    query = sa.select(model_versions.c.name, model_versions.c.version).where(
        model_versions.c.id == version_id
    )
    row = conn.execute(query).first()
    label = f"model {row.name}/{row.version}" if row else f"model version {version_id}"
    return {d: [label] for d in digests}


def _checkpoint_places(
    conn: sa.Connection, _ws: Workspace, checkpoint_id: str, digests: set[str]
) -> dict[str, list[str]]:
    import sqlalchemy as sa

    from aidot.store._schema import checkpoints

    query = sa.select(checkpoints.c.run_id, checkpoints.c.step).where(
        checkpoints.c.id == checkpoint_id
    )
    row = conn.execute(query).first()
    label = f"checkpoint {checkpoint_id}"
    if row is not None:
        label += f" of run {row.run_id}" + (f" (step {row.step})" if row.step is not None else "")
    return {d: [label] for d in digests}


def _run_places(
    conn: sa.Connection, _ws: Workspace, run_id: str, digests: set[str]
) -> dict[str, list[str]]:
    import sqlalchemy as sa

    from aidot.store._schema import run_artifacts

    query = sa.select(run_artifacts.c.path, run_artifacts.c.digest).where(
        run_artifacts.c.run_id == run_id, run_artifacts.c.digest.in_(sorted(digests))
    )
    places: dict[str, list[str]] = defaultdict(list)
    for path, digest in conn.execute(query):
        places[digest].append(f"run {run_id} artifact {path}")
    return places


_NAMERS = {
    "dataset": _dataset_places,
    "model": _model_places,
    "checkpoint": _checkpoint_places,
    "run": _run_places,
}
