"""DataVersionControl: versions of files and folders in the workspace's blob store."""

from __future__ import annotations

import builtins
import io
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from aidot._ids import new_id, now_ms
from aidot.data import _manifest
from aidot.data._checkout import write_files
from aidot.data._manifest import Columns, FileEntry, check_relative
from aidot.data._pointer import POINTER_SUFFIX, write_pointer
from aidot.data._refs import VersionRef, check_name, parse
from aidot.data._tree_state import Listing, StatCache, TreeState
from aidot.errors import (
    AlreadyExistsError,
    IntegrityError,
    InvalidArgumentError,
    NotFoundError,
    PathNotFoundError,
)

if TYPE_CHECKING:
    import sqlalchemy as sa

    from aidot.blobs import BlobStore
    from aidot.data._remotes import TransferReport
    from aidot.store import MetadataStore

Progress = Callable[[int, int, int], object]
"""``progress(bytes_done, bytes_total, files_done)``, as the blob store reports it."""

_ALLOCATION_ATTEMPTS = 5
"""Tries at recording a version should two writers still collide on its number."""


@dataclass(frozen=True)
class Changes:
    """What differs between two file trees, as sorted relative paths."""

    added: list[str] = field(default_factory=list)
    modified: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.added or self.modified or self.deleted)


class DatasetVersion:
    """One version of a dataset: its files (``.files``), readable (``.open``) and checked out
    (``.checkout``) without leaving Python."""

    def __init__(self, dvc: DataVersionControl, row: Any, tags: list[str]) -> None:
        self._dvc = dvc
        self.id: str = row.id
        self.name: str = row.dataset
        self.version: int = row.version
        self.manifest: str = row.manifest
        self.message: str = row.message
        self.file_count: int = row.files
        self.bytes: int = row.bytes
        self.source: str = row.source
        self.created_at: int = row.created_at
        self.tags = tags
        self.bytes_written = 0
        """New file content the ``add`` that returned this version stored (0 otherwise):
        what deduplication and chunking left to write."""
        self._files: dict[str, FileEntry] | None = None
        self._columns: Columns | None = None  # what ``add`` just wrote, until files is read

    def __repr__(self) -> str:
        return f"DatasetVersion({self.ref!r}, files={self.file_count}, bytes={self.bytes})"

    @property
    def ref(self) -> str:
        """``NAME@vN``."""
        return f"{self.name}@v{self.version}"

    @property
    def files(self) -> dict[str, FileEntry]:
        """Relative path -> digest, size and mode, sorted by path (loaded once)."""
        if self._files is None:
            if self._columns is not None:
                self._files = self._columns.entries()
            else:
                data = self._dvc._blobs.get_bytes(self.manifest)
                self._files = _manifest.decode(data, self.ref)
        return self._files

    def open(self, path: str) -> BinaryIO:
        """A file of this version, opened for reading (the stored file itself, read-only,
        when it is stored whole; else its verified bytes in memory)."""
        entry = self.files.get(check_relative(path))
        if entry is None:
            raise NotFoundError(f"{self.ref} has no file {path!r}")
        whole = self._dvc._blobs.whole_path(entry.digest)
        if whole is not None:
            return open(whole, "rb")
        return io.BytesIO(self._dvc._blobs.get_bytes(entry.digest))

    def checkout(
        self,
        dest: str | os.PathLike[str],
        *,
        link: bool = False,
        force: bool = False,
        verify: bool = True,
        progress: Progress | None = None,
    ) -> int:
        """Writes this version's files under ``dest`` (see
        :meth:`DataVersionControl.checkout`); returns how many."""
        return write_files(
            self._dvc._blobs,
            self.files,
            Path(dest),
            link=link,
            force=force,
            verify=verify,
            progress=progress,
        )


class DataVersionControl:
    """Dataset versions in a workspace (``ws.data``), as DVC users expect, without a git repo.

    ``add("data/", "images")`` records version 1, 2, ... of a file or folder: a manifest of
    relative path -> digest, size and mode, with the content in the blob store (hashed and
    stored in parallel; unchanged files are recognised by their stat and not read again).
    """

    def __init__(
        self,
        store: MetadataStore,
        blobs: BlobStore,
        stat_cache: Path,
        remote_cache: Path | None = None,
    ) -> None:
        from aidot.data._remotes import Remotes

        self._store = store
        self._blobs = blobs
        self._stats = StatCache(stat_cache)
        """Tree states under the folder ``stat_cache`` (see ``_tree_state.py``)."""
        self.remotes = Remotes(store, remote_cache or stat_cache.parent / "remotes")
        """Configured remotes: ``add(name, url, options)``, ``list()``, ``remove(name)``."""

    # --- versions -------------------------------------------------------------------------

    def add(
        self,
        path: str | os.PathLike[str],
        name: str,
        message: str = "",
        *,
        progress: Progress | None = None,
        pointer: bool = False,
    ) -> DatasetVersion:
        """Records the file or folder at ``path`` as the next version of dataset ``name``
        (created when new) and returns it; when nothing changed since the latest version,
        returns that one. ``pointer`` writes ``NAME.aidot`` beside ``path``."""
        check_name(name)
        root = _existing(path)
        listing = Listing.scan(root)
        state = self._stats.load(root)
        latest = self._latest_row(name)
        untouched = state is not None and state.listing.fingerprint == listing.fingerprint
        if (
            latest is not None
            and untouched
            and state is not None
            and state.manifest == latest.manifest
        ):
            return self._version(latest)  # untouched since it was added: nothing to read
        columns, digests, written = self._snapshot(root, listing, state, progress)
        manifest = _manifest.encode(columns)
        if latest is not None and latest.manifest == _digest_of(manifest):
            version = self._version(latest)
        else:
            version = self._commit(name, root, message, columns, manifest)
        self._stats.save(root, TreeState(listing, digests, version.manifest))
        version.bytes_written = written
        if pointer:
            write_pointer(root.parent / f"{name}{POINTER_SUFFIX}", version)
        return version

    def get(self, ref: str) -> DatasetVersion:
        """``NAME`` (the latest version), ``NAME@v3``, or ``NAME@TAG``."""
        import sqlalchemy as sa

        from aidot.store._schema import dataset_tags, dataset_versions

        parsed = parse(ref)
        with self._store.read() as conn:
            query = sa.select(dataset_versions).where(dataset_versions.c.dataset == parsed.name)
            if parsed.version is not None:
                query = query.where(dataset_versions.c.version == parsed.version)
            elif parsed.tag is not None:
                tagged = sa.select(dataset_tags.c.version_id).where(
                    dataset_tags.c.dataset == parsed.name, dataset_tags.c.tag == parsed.tag
                )
                query = query.where(dataset_versions.c.id.in_(tagged))
            else:
                query = query.order_by(dataset_versions.c.version.desc()).limit(1)
            row = conn.execute(query).first()
            if row is None:
                raise self._missing(conn, parsed, ref)
            return DatasetVersion(self, row, _tags_of(conn, row.id))

    def log(self, name: str) -> list[DatasetVersion]:
        """Every version of a dataset, newest first."""
        import sqlalchemy as sa

        from aidot.store._schema import dataset_tags, dataset_versions

        check_name(name)
        with self._store.read() as conn:
            rows = conn.execute(
                sa.select(dataset_versions)
                .where(dataset_versions.c.dataset == name)
                .order_by(dataset_versions.c.version.desc())
            ).all()
            if not rows:
                raise NotFoundError(f"no dataset named {name!r}; list them with aidot data ls")
            tags: dict[str, list[str]] = {}
            for version_id, tag in conn.execute(
                sa.select(dataset_tags.c.version_id, dataset_tags.c.tag)
                .where(dataset_tags.c.dataset == name)
                .order_by(dataset_tags.c.tag)
            ):
                tags.setdefault(version_id, []).append(tag)
        return [DatasetVersion(self, row, tags.get(row.id, [])) for row in rows]

    def list(self) -> list[DatasetVersion]:
        """The latest version of every dataset, by name."""
        import sqlalchemy as sa

        from aidot.store._schema import dataset_versions

        latest = (
            sa.select(dataset_versions.c.dataset, sa.func.max(dataset_versions.c.version))
            .group_by(dataset_versions.c.dataset)
            .subquery()
        )
        query = (
            sa.select(dataset_versions)
            .join(
                latest,
                (dataset_versions.c.dataset == latest.c[0])
                & (dataset_versions.c.version == latest.c[1]),
            )
            .order_by(dataset_versions.c.dataset)
        )
        with self._store.read() as conn:
            return [
                DatasetVersion(self, row, _tags_of(conn, row.id)) for row in conn.execute(query)
            ]

    def tag(self, ref: str, tag: str) -> DatasetVersion:
        """Names a version; a tag that exists already is an error (tags do not move)."""
        from aidot.store._schema import dataset_tags

        check_name(tag, "tag")
        if parse(f"x@{tag}").tag is None:
            raise InvalidArgumentError(f"tag {tag!r} looks like a version number; pick a name")
        version = self.get(ref)
        try:
            with self._store.write() as conn:
                conn.execute(
                    dataset_tags.insert(),
                    [
                        {
                            "dataset": version.name,
                            "tag": tag,
                            "version_id": version.id,
                            "created_at": now_ms(),
                        }
                    ],
                )
        except AlreadyExistsError:
            holder = self.get(f"{version.name}@{tag}").ref
            raise AlreadyExistsError(
                f"{version.name} already has a tag {tag!r} (on {holder}); tags do not move: "
                "pick another name"
            ) from None
        return self.get(ref)

    # --- comparing ------------------------------------------------------------------------

    def status(self, name: str, path: str | os.PathLike[str] | None = None) -> Changes:
        """How the folder at ``path`` (default: where the latest version was added from)
        differs from the latest version of ``name``."""
        latest = self.get(name)
        root = _existing(path if path is not None else latest.source)
        listing = Listing.scan(root)
        state = self._stats.load(root)
        if (
            state is not None
            and state.listing.fingerprint == listing.fingerprint
            and state.manifest == latest.manifest
        ):
            return Changes()  # untouched since it matched this version
        digests, stored = self._current_digests(root, listing, state, latest.files)
        changes = _compare(latest.files, dict(zip(listing.paths, digests, strict=True)))
        self._stats.save(root, TreeState(listing, stored, "" if changes else latest.manifest))
        return changes

    def diff(self, old: str, new: str) -> Changes:
        """What changed from version ``old`` to version ``new`` (e.g. ``images@v1``)."""
        before, after = self.get(old).files, self.get(new).files
        return _compare(before, {p: e.digest for p, e in after.items()})

    # --- using ----------------------------------------------------------------------------

    def checkout(
        self,
        ref: str,
        dest: str | os.PathLike[str],
        *,
        link: bool = False,
        force: bool = False,
        verify: bool = True,
        progress: Progress | None = None,
    ) -> int:
        """Writes a version's files under ``dest`` (created if missing) and returns how many.

        Files are cloned copy-on-write where the filesystem can, else copied, in parallel;
        ``link=True`` hard-links them instead (read-only, sharing the store's files). ``dest``
        must be empty unless ``force``, which overwrites the version's files there and leaves
        any others alone. Every byte copied is checked against its digest on the way (a
        damaged file raises :class:`~aidot.errors.IntegrityError` and is not written);
        ``verify=False`` trusts the store and skips the hashing, as ``dvc checkout`` does
        (0.7 s less CPU per 2 GiB; files replaced with ``force`` are still checked);
        :meth:`verify` checks a version on its own.
        """
        return self.get(ref).checkout(
            dest, link=link, force=force, verify=verify, progress=progress
        )

    def verify(self, ref: str) -> int:
        """Re-hashes every file of a version; raises :class:`~aidot.errors.IntegrityError`
        naming every file whose content is missing or damaged. Returns the number of files
        checked."""
        version = self.get(ref)
        files = version.files
        report = self._blobs.verify_each(e.digest for e in files.values())
        if report.corrupt:
            bad = [
                f"{path} (blob {e.digest} {report.corrupt[e.digest]})"
                for path, e in files.items()
                if e.digest in report.corrupt
            ]
            shown = "; ".join(bad[:5]) + (f"; and {len(bad) - 5:,} more" if len(bad) > 5 else "")
            raise IntegrityError(
                f"{version.ref}: {len(bad):,} of {len(files):,} files cannot be restored: "
                f"{shown}. Pull the version from a remote (aidot data pull) or add the "
                "folder again"
            )
        return len(files)

    def push(
        self, ref: str, remote: str | None = None, *, progress: Progress | None = None
    ) -> TransferReport:
        """Uploads a version to a remote (a configured name or a URL such as
        ``s3://bucket/prefix``): only the blobs and chunks the remote lacks, in parallel, with
        retries. ``progress(objects_done, objects_total, _)``."""
        from aidot.data import _remotes

        return _remotes.push(self, ref, self.remotes.open(remote), progress)

    def pull(
        self, ref: str, remote: str | None = None, *, progress: Progress | None = None
    ) -> DatasetVersion:
        """Downloads a version (``NAME``, ``NAME@v3``, ``NAME@TAG``) from a remote, fetching
        only the content this workspace lacks, and records it here under the same number."""
        from aidot.data import _remotes

        version, _ = _remotes.pull(self, ref, self.remotes.open(remote), progress)
        return version

    def _record_pulled(self, meta: dict[str, Any], files: dict[str, FileEntry]) -> DatasetVersion:
        """Records a version pulled from a remote, under its number; one already here with
        the same content is returned as is, one with other content is a conflict."""
        import sqlalchemy as sa

        from aidot.store._metadata_store import insert_and_lock, insert_blob_refs
        from aidot.store._schema import dataset_tags, dataset_versions, datasets

        name, number = check_name(meta["name"]), int(meta["version"])
        with self._store.write() as conn:
            row = conn.execute(
                sa.select(dataset_versions).where(
                    dataset_versions.c.dataset == name, dataset_versions.c.version == number
                )
            ).first()
            if row is not None and row.manifest != meta["manifest"]:
                raise AlreadyExistsError(
                    f"{name}@v{number} here differs from the remote's; pull it into another "
                    "workspace, or compare them with aidot data diff"
                )
            if row is None:
                insert_and_lock(conn, datasets, {"name": name, "created_at": now_ms()})
                version_id = new_id()
                conn.execute(
                    dataset_versions.insert(),
                    [
                        {
                            "id": version_id,
                            "dataset": name,
                            "version": number,
                            "manifest": meta["manifest"],
                            "message": meta.get("message", ""),
                            "files": len(files),
                            "bytes": sum(e.size for e in files.values()),
                            "source": meta.get("source", ""),
                            "created_at": int(meta.get("created_at", now_ms())),
                        }
                    ],
                )
                digests = {e.digest for e in files.values()} | {meta["manifest"]}
                insert_blob_refs(conn, f"dataset:{name}", digests)
            else:
                version_id = row.id
            have = set(
                conn.execute(
                    sa.select(dataset_tags.c.tag).where(dataset_tags.c.dataset == name)
                ).scalars()
            )
            new_tags = [t for t in meta.get("tags", []) if t not in have]
            if new_tags:
                conn.execute(
                    dataset_tags.insert(),
                    [
                        {
                            "dataset": name,
                            "tag": t,
                            "version_id": version_id,
                            "created_at": now_ms(),
                        }
                        for t in new_tags
                    ],
                )
        return self.get(f"{name}@v{number}")

    def used_by(self, run_id: str) -> builtins.list[DatasetVersion]:
        """The dataset versions a run logged as inputs."""
        from aidot.data._inputs import run_inputs_query

        with self._store.read() as conn:
            return [
                DatasetVersion(self, row, _tags_of(conn, row.id))
                for row in conn.execute(run_inputs_query(run_id))
            ]

    # --- internals ------------------------------------------------------------------------

    def _snapshot(
        self,
        root: Path,
        listing: Listing,
        state: TreeState | None,
        progress: Progress | None,
    ) -> tuple[Columns, builtins.list[str], int]:
        """The listed files with their digests (unchanged ones from the tree state, the rest
        hashed and stored in one parallel batch), the digests in listing order for the tree
        state (``""`` for a file that changed while it was read), and the bytes the batch
        wrote."""
        digests = state.known_digests(listing) if state is not None else [""] * len(listing)
        base = root if root.is_dir() else root.parent
        missing = [i for i, d in enumerate(digests) if not d]
        written = 0
        sizes = listing.sizes.tolist()
        changed_while_read = []
        if missing:
            # The raw (digest, size, bytes written, chunks) tuples: at 50,000 files, making a
            # PutReport of each cost a tenth of a second.
            paths = listing.paths
            reports = self._blobs._inner.put_files(
                [f"{base}/{paths[i]}" for i in missing], progress
            )
            for i, (digest, size, bytes_written, _) in zip(missing, reports, strict=True):
                digests[i] = digest
                written += bytes_written
                if size != sizes[i]:
                    # The version records what was read; the tree state must not trust the
                    # listed stat of a file that changed meanwhile.
                    sizes[i] = size
                    changed_while_read.append(i)
        for path in listing.paths:
            check_relative(path)
        columns = Columns(listing.paths, digests, sizes, listing.modes.tolist())
        state_digests = list(digests)
        for i in changed_while_read:
            state_digests[i] = ""
        return columns, state_digests, written

    def _current_digests(
        self,
        root: Path,
        listing: Listing,
        state: TreeState | None,
        known: dict[str, FileEntry],
    ) -> tuple[builtins.list[str], builtins.list[str]]:
        """Digests of the listed files in order: from the tree state when a file's stat is
        unchanged, hashed (not stored) when it changed but kept its size, ``"?"`` when its
        size differs from the known version (a change by itself, no need to read it).

        Also the digests a tree state may keep: ``add`` trusts a tree state's digest and does
        not read that file again, so it may only name content in the store. A file hashed here
        and found changed was not stored, and stays unknown there (the next add stores it)."""
        from aidot import _core

        digests = state.known_digests(listing) if state is not None else [""] * len(listing)
        stored = list(digests)
        base = root if root.is_dir() else root.parent
        to_hash = []
        sizes = listing.sizes.tolist()
        for i, digest in enumerate(digests):
            if digest:
                continue
            entry = known.get(listing.paths[i])
            if entry is None or entry.size != sizes[i]:
                digests[i] = "?"
            else:
                to_hash.append(i)
        if to_hash:
            hashed = _core.hash_files([f"{base}/{listing.paths[i]}" for i in to_hash])
            for i, digest in zip(to_hash, hashed, strict=True):
                digests[i] = digest
                if known[listing.paths[i]].digest == digest:
                    stored[i] = digest  # the known version's content: stored with it
        return digests, stored

    def _commit(
        self,
        name: str,
        root: Path,
        message: str,
        columns: Columns,
        manifest: bytes,
    ) -> DatasetVersion:
        manifest_digest = self._blobs.put_bytes(manifest)
        for attempt in range(_ALLOCATION_ATTEMPTS):
            try:
                return self._insert_version(name, root, message, columns, manifest_digest)
            except AlreadyExistsError:
                # The dataset's row lock makes writers take turns; this is the last resort
                # should a database not honour it.
                if attempt == _ALLOCATION_ATTEMPTS - 1:
                    raise
        raise AssertionError("unreachable")

    def _insert_version(
        self, name: str, root: Path, message: str, columns: Columns, manifest_digest: str
    ) -> DatasetVersion:
        """Allocates the next number and records the version in one transaction, the
        dataset's row created if new and locked first, as the registry does for models."""
        import sqlalchemy as sa

        from aidot.store._metadata_store import insert_and_lock, insert_blob_refs, latest_number
        from aidot.store._schema import dataset_versions, datasets

        now = now_ms()
        version_id = new_id()
        with self._store.write() as conn:
            insert_and_lock(conn, datasets, {"name": name, "created_at": now})
            number = 1 + latest_number(
                conn, dataset_versions.c.version, dataset_versions.c.dataset, name
            )
            conn.execute(
                dataset_versions.insert(),
                [
                    {
                        "id": version_id,
                        "dataset": name,
                        "version": number,
                        "manifest": manifest_digest,
                        "message": message,
                        "files": len(columns.paths),
                        "bytes": sum(columns.sizes),
                        "source": str(root),
                        "created_at": now,
                    }
                ],
            )
            digests = set(columns.digests)
            digests.add(manifest_digest)
            # One owner per dataset: a new version adds references only for content that no
            # earlier version of it had (500 rows, not 50,000, when 1% of the files changed).
            insert_blob_refs(conn, f"dataset:{name}", digests)
            row = conn.execute(
                sa.select(dataset_versions).where(dataset_versions.c.id == version_id)
            ).one()
        version = DatasetVersion(self, row, [])
        version._columns = columns
        return version

    def _latest_row(self, name: str) -> Any:
        import sqlalchemy as sa

        from aidot.store._schema import dataset_versions

        with self._store.read() as conn:
            return conn.execute(
                sa.select(dataset_versions)
                .where(dataset_versions.c.dataset == name)
                .order_by(dataset_versions.c.version.desc())
                .limit(1)
            ).first()

    def _version(self, row: Any) -> DatasetVersion:
        with self._store.read() as conn:
            return DatasetVersion(self, row, _tags_of(conn, row.id))

    def _missing(self, conn: sa.Connection, ref: VersionRef, text: str) -> NotFoundError:
        import sqlalchemy as sa

        from aidot.store._schema import datasets

        exists = conn.execute(sa.select(datasets.c.name).where(datasets.c.name == ref.name)).first()
        if exists is None:
            return NotFoundError(f"no dataset named {ref.name!r}; list them with aidot data ls")
        if ref.tag is not None:
            return NotFoundError(f"dataset {ref.name!r} has no tag {ref.tag!r} ({text})")
        return NotFoundError(
            f"dataset {ref.name!r} has no version {ref.version}; see aidot data log {ref.name}"
        )


def _existing(path: str | os.PathLike[str]) -> Path:
    root = Path(path).expanduser().absolute()
    if not root.exists():
        raise PathNotFoundError(f"{root} does not exist; pass the file or folder to version")
    return root


def _digest_of(data: bytes) -> str:
    from aidot.blobs import hash_bytes

    return hash_bytes(data)


def _compare(before: dict[str, FileEntry], after: dict[str, str]) -> Changes:
    added = sorted(p for p in after if p not in before)
    deleted = sorted(p for p in before if p not in after)
    modified = sorted(p for p, d in after.items() if p in before and before[p].digest != d)
    return Changes(added, modified, deleted)


def _tags_of(conn: sa.Connection, version_id: str) -> list[str]:
    import sqlalchemy as sa

    from aidot.store._schema import dataset_tags

    query = (
        sa.select(dataset_tags.c.tag)
        .where(dataset_tags.c.version_id == version_id)
        .order_by(dataset_tags.c.tag)
    )
    return list(conn.execute(query).scalars())
