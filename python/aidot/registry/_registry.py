"""ModelRegistry: models, immutable versions, stages with an audit history, and aliases."""

from __future__ import annotations

import builtins
import contextlib
import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aidot._ids import new_id, now_ms
from aidot.errors import (
    AidotError,
    AlreadyExistsError,
    IntegrityError,
    InvalidArgumentError,
    NotFoundError,
)
from aidot.registry import _search
from aidot.registry._content import checkpoint_source, store_model, store_path
from aidot.registry._rows import (
    aliases_of,
    all_aliases,
    latest_in,
    record,
    set_stage,
    tags_json,
    to_model,
    to_version,
)
from aidot.registry._servable import ServableModel
from aidot.registry._types import HistoryEvent, Lineage, ModelVersion, RegisteredModel
from aidot.registry._uri import ALLOWED, STAGES, ModelRef, check_name, parse, stage_name

if TYPE_CHECKING:
    import sqlalchemy as sa

    from aidot.blobs import BlobStore
    from aidot.checkpoints import CheckpointInfo
    from aidot.store import MetadataStore
    from aidot.tracking import Run

_ALLOCATION_ATTEMPTS = 5


class ModelRegistry:
    """The model registry of a workspace (``ws.registry``), as MLflow users know it.

    Versions are immutable and numbered 1, 2, ... per model (allocated atomically, so two
    processes creating versions at once get distinct numbers). Each version moves through
    Development -> Staging -> Production -> Archived (see :data:`ALLOWED` for the rules), and
    every change is recorded in an append-only history that :meth:`version_at` replays.
    Aliases (``champion``) name versions alongside stages. ``models:/NAME/3``,
    ``models:/NAME@Production`` and ``models:/NAME@champion`` resolve everywhere.
    """

    def __init__(self, store: MetadataStore, blobs: BlobStore) -> None:
        self._store = store
        self._blobs = blobs

    # --- models ---------------------------------------------------------------------------

    def register_model(
        self, name: str, description: str = "", tags: Mapping[str, Any] | None = None
    ) -> RegisteredModel:
        """Creates a model; the name must be new."""
        from aidot.store._schema import models

        check_name(name)
        now = now_ms()
        try:
            with self._store.write() as conn:
                conn.execute(
                    models.insert(),
                    [
                        {
                            "name": name,
                            "description": description,
                            "tags": tags_json(tags),
                            "created_at": now,
                            "updated_at": now,
                        }
                    ],
                )
        except AlreadyExistsError:
            raise AlreadyExistsError(f"a model named {name!r} exists already") from None
        return self.get_model(name)

    def get_model(self, name: str) -> RegisteredModel:
        """A model by name."""
        import sqlalchemy as sa

        from aidot.store._metadata_store import latest_number
        from aidot.store._schema import model_versions, models

        with self._store.read() as conn:
            row = conn.execute(sa.select(models).where(models.c.name == name)).first()
            if row is None:
                raise _no_model(name)
            latest = latest_number(conn, model_versions.c.version, model_versions.c.name, name)
        return to_model(row, latest)

    def list_models(self) -> builtins.list[RegisteredModel]:
        """Every model, by name, with its latest version number."""
        import sqlalchemy as sa

        from aidot.store._schema import model_versions, models

        latest = (
            sa.select(model_versions.c.name, sa.func.max(model_versions.c.version).label("v"))
            .group_by(model_versions.c.name)
            .subquery()
        )
        query = (
            sa.select(models, latest.c.v)
            .outerjoin(latest, latest.c.name == models.c.name)
            .order_by(models.c.name)
        )
        with self._store.read() as conn:
            return [to_model(row, row.v or 0) for row in conn.execute(query)]

    def search_models(
        self, filter: str | None = None, *, max_results: int = 1000
    ) -> builtins.list[RegisteredModel]:
        """Models matching ``filter`` (MLflow's syntax over ``name``, ``description`` and
        ``tags.KEY``: ``"name LIKE 'churn%' and tags.team = 'growth'"``), by name. A filter
        that does not parse raises :class:`~aidot.errors.InvalidFilterError`."""
        clauses = _search.parse(filter, _search.MODEL_ATTRIBUTES)
        return _search.select(self.list_models(), clauses, [], max_results)

    def search_versions(
        self,
        filter: str | None = None,
        *,
        order_by: Sequence[str] | None = None,
        max_results: int = 1000,
    ) -> builtins.list[ModelVersion]:
        """Versions of any model matching ``filter``: comparisons on ``name``, ``version``,
        ``stage``, ``run_id``, ``format``, ``alias``, ``description``, ``tags.KEY`` and
        ``metrics.KEY`` joined by ``and`` (``"name = 'churn' and metrics.auc > 0.9 and stage
        != 'Archived'"``), ordered by ``order_by`` (``["metrics.auc DESC"]``; by default name,
        then newest first)."""
        import sqlalchemy as sa

        from aidot.store._schema import model_versions

        clauses = _search.parse(filter, _search.VERSION_ATTRIBUTES)
        order = _search.parse_order_by(list(order_by or []), _search.VERSION_ATTRIBUTES)
        query = sa.select(model_versions)
        for clause in clauses:  # the common case, one model, narrows in SQL
            if clause.key == "name" and clause.op == "=":
                query = query.where(model_versions.c.name == clause.value)
        with self._store.read() as conn:
            aliases = all_aliases(conn)
            rows = conn.execute(query).all()
        versions = [to_version(r, aliases.get((r.name, r.version), [])) for r in rows]
        versions.sort(key=lambda v: (v.name, -v.version))  # the order ties keep
        return _search.select(versions, clauses, order, max_results)

    def update_model(
        self,
        name: str,
        *,
        description: str | None = None,
        tags: Mapping[str, Any] | None = None,
    ) -> RegisteredModel:
        """Replaces a model's description and/or merges tags into its tags."""
        from aidot.store._schema import models

        values = _updates(self.get_model(name).tags, description, tags)
        with self._store.write() as conn:
            conn.execute(models.update().where(models.c.name == name).values(**values))
        return self.get_model(name)

    # --- versions -------------------------------------------------------------------------

    def create_model_version(
        self,
        name: str,
        *,
        model: Any = None,
        input_example: Any = None,
        format: str | None = None,
        path: str | os.PathLike[str] | None = None,
        checkpoint: CheckpointInfo | None = None,
        run: Run | str | None = None,
        datasets: Sequence[Any] | None = None,
        signature: Mapping[str, Any] | None = None,
        metrics: Mapping[str, float] | None = None,
        description: str = "",
        tags: Mapping[str, Any] | None = None,
    ) -> ModelVersion:
        """Records version N+1 of ``name`` (registered on first use) in Development.

        The content is a model object (``model``, saved in the format :mod:`detect
        <aidot.registry.formats>` picks: skops for scikit-learn, numpy for a ``NumpyModel``,
        cloudpickle for other objects with ``predict``; ``input_example`` infers the
        signature; ``format="onnx"`` converts a scikit-learn model with skl2onnx), a file or
        folder (``path``, stored in the blob store) or a checkpoint
        (``checkpoint``, from a :class:`~aidot.CheckpointManager`; its blobs are kept for the
        version). ``run`` (a run or its id) links the training run; ``datasets`` the dataset
        versions it used (default: the run's logged inputs). The version it replaces is the
        model's Production version at creation, if any.
        """
        check_name(name)
        if sum(x is not None for x in (model, path, checkpoint)) != 1:
            raise InvalidArgumentError(
                "create_model_version needs exactly one of model= (an object), path= (a file "
                "or folder) or checkpoint= (a CheckpointInfo)"
            )
        run_id: str | None = run if run is None or isinstance(run, str) else run.id
        if model is not None:
            source, digests, inferred = store_model(self._blobs, model, input_example, format)
            if signature is None:
                signature = inferred
        elif path is not None:
            source, digests = store_path(self._blobs, Path(path))
        else:
            source, digests = checkpoint_source(self._blobs, checkpoint)
        lineage: dict[str, Any] = {
            "datasets": self._dataset_refs(run_id, datasets),
            "checkpoint": checkpoint.id if checkpoint is not None else None,
        }
        values = {
            "source": json.dumps(source),
            "run_id": run_id,
            "signature": json.dumps(dict(signature)) if signature is not None else None,
            "metrics": json.dumps({k: float(v) for k, v in (metrics or {}).items()}),
            "description": description,
            "tags": tags_json(tags),
        }
        try:
            self.get_model(name)
        except NotFoundError:
            with contextlib.suppress(AlreadyExistsError):  # registered by another process
                self.register_model(name)
        number = self._insert_version(name, values, lineage, digests)
        return self.get_version(name, number)

    def _insert_version(
        self,
        name: str,
        values: dict[str, Any],
        lineage: dict[str, Any],
        digests: set[str],
    ) -> int:
        """Allocates the next number and inserts the version in one transaction. The model's
        row is locked first (``SELECT ... FOR UPDATE`` on PostgreSQL; SQLite's write
        transactions queue anyway), so concurrent writers take turns; the retry is a last
        resort should a database not honour the lock."""
        import sqlalchemy as sa

        from aidot.store._metadata_store import insert_blob_refs, latest_number
        from aidot.store._schema import model_history, model_versions, models

        for attempt in range(_ALLOCATION_ATTEMPTS):
            version_id = new_id()
            now = now_ms()
            try:
                with self._store.write() as conn:
                    conn.execute(
                        sa.select(models.c.name).where(models.c.name == name).with_for_update()
                    )
                    now = now_ms()
                    # The history remembers deleted versions too: their numbers are never
                    # given again, so models:/NAME/N always meant the same content.
                    number = 1 + max(
                        latest_number(conn, model_versions.c.version, model_versions.c.name, name),
                        latest_number(conn, model_history.c.version, model_history.c.name, name),
                    )
                    replaces = latest_in(conn, name, "Production")
                    conn.execute(
                        model_versions.insert(),
                        [
                            {
                                **values,
                                "id": version_id,
                                "name": name,
                                "version": number,
                                "stage": "Development",
                                "lineage": json.dumps({**lineage, "replaces": replaces}),
                                "created_at": now,
                                "updated_at": now,
                            }
                        ],
                    )
                    insert_blob_refs(conn, f"model:{version_id}", digests)
                    record(conn, name, number, "created", "Development", None, "")
                return number
            except AlreadyExistsError:
                if attempt == _ALLOCATION_ATTEMPTS - 1:
                    raise
        raise AssertionError("unreachable")

    def get_version(self, name: str, version: int) -> ModelVersion:
        """Version ``version`` of ``name``."""
        import sqlalchemy as sa

        from aidot.store._schema import model_versions

        with self._store.read() as conn:
            row = conn.execute(
                sa.select(model_versions).where(
                    model_versions.c.name == name, model_versions.c.version == version
                )
            ).first()
            if row is None:
                raise self._missing_version(conn, name, version)
            return to_version(row, aliases_of(conn, name).get(version, []))

    def list_versions(self, name: str) -> builtins.list[ModelVersion]:
        """Every version of a model, newest first."""
        import sqlalchemy as sa

        from aidot.store._schema import model_versions

        self.get_model(name)
        with self._store.read() as conn:
            aliases = aliases_of(conn, name)
            rows = conn.execute(
                sa.select(model_versions)
                .where(model_versions.c.name == name)
                .order_by(model_versions.c.version.desc())
            ).all()
        return [to_version(r, aliases.get(r.version, [])) for r in rows]

    def load_model(self, uri: str, *, trust: bool = False) -> ServableModel:
        """The model a ``models:/`` URI names, loaded for ``predict``. Every blob is verified
        first; a pickled model needs ``trust=True`` (:class:`~aidot.errors.TrustRequiredError`
        otherwise)."""
        import tempfile

        from aidot.data._manifest import decode
        from aidot.registry import formats

        version = self.resolve(uri)
        source = version.source
        if source.get("kind") == "checkpoint":
            raise InvalidArgumentError(
                f"{version.uri} is a checkpoint, not a saved model object; restore its state "
                f"with registry.restore_checkpoint({version.uri!r})"
            )
        if source.get("kind") != "files" or "format" not in source:
            raise InvalidArgumentError(
                f"{version.uri} holds {source.get('kind')} content, not a saved model object; "
                "register it with create_model_version(model=...) to load it"
            )
        fmt = formats.get(source["format"])
        files = decode(self._blobs.get_bytes(source["manifest"]), version.uri)
        self._blobs.verify_digests(sorted({e.digest for e in files.values()}))
        with tempfile.TemporaryDirectory(prefix="aidot-model-") as tmp:
            items: list[tuple[str, str, int | None]] = [
                (e.digest, f"{tmp}/{p}", e.mode) for p, e in files.items()
            ]
            self._blobs._inner.export_many(items, True)  # hard links where possible: no copy
            try:
                loaded = fmt.load(Path(tmp), source.get("format_details", {}), trust=trust)
            except (AidotError, ImportError):
                raise
            except Exception as exc:  # each framework has its own errors (onnxruntime's...)
                # The files are intact (verified above) but are not this format's: a record
                # edited by hand, or files registered by another tool under this format.
                raise IntegrityError(
                    f"{version.uri} is recorded as a {fmt.name!r} model, but its files do not "
                    f"load as one ({type(exc).__name__}: {exc}); register the model again "
                    "with create_model_version(model=...)"
                ) from exc
        return ServableModel(version.name, version.version, loaded, version.signature, fmt.name)

    def restore_checkpoint(
        self, uri: str, *, mmap: bool = True, verify: bool = True, allow_pickle: bool = False
    ) -> Any:
        """The training state of a version registered from a checkpoint, every blob verified
        first (as :meth:`CheckpointManager.restore <aidot.CheckpointManager.restore>`); it
        restores even after the checkpoint's manager pruned that checkpoint."""
        from aidot.checkpoints import restore_state

        version = self.resolve(uri)
        source = version.source
        if source.get("kind") != "checkpoint":
            raise InvalidArgumentError(
                f"{version.uri} holds {source.get('kind')} content, not a checkpoint; load it "
                "with load_model(uri), or download(uri, dest) for its files"
            )
        return restore_state(
            self._blobs,
            source["manifest"],
            label=f"{version.uri} (checkpoint {source['checkpoint_id']})",
            mmap=mmap,
            verify=verify,
            allow_pickle=allow_pickle,
        )

    def lineage(self, uri: str) -> Lineage:
        """Which data and code trained a version: its run (params, metrics, git commit,
        command line), the dataset versions the run used, the checkpoint it came from, and
        the version it replaced, in one call."""
        import sqlalchemy as sa

        from aidot.store._schema import checkpoints, dataset_versions

        version = self.resolve(uri)
        run = None
        if version.run_id is not None:
            from aidot.tracking import ExperimentTracker

            tracker = ExperimentTracker(self._store, synchronous=True)
            try:
                run = tracker.get_run(version.run_id)
            except NotFoundError:
                run = None
        datasets = []
        with self._store.read() as conn:
            for ref in version.lineage.get("datasets", []):
                name, _, number = ref.partition("@v")
                row = conn.execute(
                    sa.select(dataset_versions).where(
                        dataset_versions.c.dataset == name,
                        dataset_versions.c.version == int(number),
                    )
                ).first()
                datasets.append(
                    {
                        "ref": ref,
                        "files": row.files if row else None,
                        "bytes": row.bytes if row else None,
                        "manifest": row.manifest if row else None,
                    }
                )
            checkpoint = None
            checkpoint_id = version.lineage.get("checkpoint")
            if checkpoint_id:
                row = conn.execute(
                    sa.select(checkpoints).where(checkpoints.c.id == checkpoint_id)
                ).first()
                checkpoint = {
                    "id": checkpoint_id,
                    "step": row.step if row else version.source.get("step"),
                    "epoch": row.epoch if row else version.source.get("epoch"),
                    "metrics": json.loads(row.metrics) if row else {},
                }
        return Lineage(version, run, datasets, checkpoint, version.lineage.get("replaces"))

    def compare(self, name: str, first: int, second: int) -> dict[str, Any]:
        """Two versions side by side: ``params`` and ``metrics`` (the version's own metrics
        over its run's latest ones) as ``{key: (first, second)}``, and both signatures."""
        a, b = self.lineage(f"models:/{name}/{first}"), self.lineage(f"models:/{name}/{second}")

        def side_by_side(x: dict[str, Any], y: dict[str, Any]) -> dict[str, tuple[Any, Any]]:
            return {k: (x.get(k), y.get(k)) for k in sorted(set(x) | set(y))}

        def metrics(lin: Lineage) -> dict[str, Any]:
            return {**(lin.run.metrics if lin.run else {}), **lin.version.metrics}

        return {
            "params": side_by_side(a.run.params if a.run else {}, b.run.params if b.run else {}),
            "metrics": side_by_side(metrics(a), metrics(b)),
            "signature": (a.version.signature, b.version.signature),
        }

    def download(self, uri: str, dest: str | os.PathLike[str]) -> int:
        """Writes the files of a version (a saved model object or stored files) under
        ``dest``; returns how many. Checkpoint versions restore with a CheckpointManager."""
        from aidot.data._manifest import check_relative, decode

        version = self.resolve(uri)
        if version.source.get("kind") != "files":
            raise InvalidArgumentError(
                f"{version.uri} is a checkpoint; restore its state with "
                f"registry.restore_checkpoint({version.uri!r})"
            )
        root = Path(dest).absolute()
        if root.exists() and any(root.iterdir()):
            raise InvalidArgumentError(f"{root} is not empty; download into an empty folder")
        files = decode(self._blobs.get_bytes(version.source["manifest"]), version.uri)
        items: list[tuple[str, str, int | None]] = [
            (e.digest, f"{root}/{check_relative(p)}", e.mode) for p, e in files.items()
        ]
        self._blobs._inner.export_many(items, False)
        return len(items)

    def update_version(
        self,
        name: str,
        version: int,
        *,
        description: str | None = None,
        tags: Mapping[str, Any] | None = None,
    ) -> ModelVersion:
        """Replaces a version's description and/or merges tags into its tags (its content,
        lineage and signature never change)."""
        from aidot.store._schema import model_versions

        values = _updates(self.get_version(name, version).tags, description, tags)
        with self._store.write() as conn:
            conn.execute(
                model_versions.update()
                .where(model_versions.c.name == name, model_versions.c.version == version)
                .values(**values)
            )
        return self.get_version(name, version)

    def resolve(self, uri: str) -> ModelVersion:
        """The version a ``models:/`` URI names now."""
        ref = parse(uri)
        if ref.version is not None:
            return self.get_version(ref.name, ref.version)
        number = self._number_for(ref)
        return self.get_version(ref.name, number)

    def delete_version(self, name: str, version: int, *, force: bool = False) -> None:
        """Deletes a version (its blobs go at the next ``ws.gc()``); a version in Production
        only with ``force``. Aliases on it are removed; the history keeps the deletion."""
        from aidot.store._schema import blob_refs, model_aliases, model_versions

        current = self.get_version(name, version)
        if current.stage == "Production" and not force:
            raise InvalidArgumentError(
                f"models:/{name}/{version} is in Production; move it to Archived first, or "
                "pass force=True"
            )
        with self._store.write() as conn:
            conn.execute(
                model_aliases.delete().where(
                    model_aliases.c.name == name, model_aliases.c.version == version
                )
            )
            conn.execute(blob_refs.delete().where(blob_refs.c.owner == f"model:{current.id}"))
            conn.execute(model_versions.delete().where(model_versions.c.id == current.id))
            record(conn, name, version, "deleted", current.stage, None, "")

    # --- stages and aliases ---------------------------------------------------------------

    def transition_stage(
        self,
        name: str,
        version: int,
        stage: str,
        *,
        archive_existing: bool = False,
        comment: str = "",
    ) -> ModelVersion:
        """Moves a version to ``stage`` (Development, Staging, Production, Archived) if the
        rules allow it (:data:`ALLOWED`); ``archive_existing`` archives the versions that
        held that stage. Every change is recorded with who made it, when and why."""
        import sqlalchemy as sa

        from aidot.store._schema import model_versions

        target = stage_name(stage)
        if target is None:
            raise InvalidArgumentError(f"unknown stage {stage!r}; stages are {', '.join(STAGES)}")
        current = self.get_version(name, version)
        if current.stage == target:
            return current
        if target not in ALLOWED[current.stage]:
            allowed = ", ".join(ALLOWED[current.stage])
            raise InvalidArgumentError(
                f"models:/{name}/{version} cannot go from {current.stage} to {target}; from "
                f"{current.stage} it may go to {allowed}"
            )
        now = now_ms()
        with self._store.write() as conn:
            if archive_existing and target in ("Staging", "Production"):
                holders = conn.execute(
                    sa.select(model_versions.c.version).where(
                        model_versions.c.name == name,
                        model_versions.c.stage == target,
                        model_versions.c.version != version,
                    )
                ).scalars()
                for other in list(holders):
                    set_stage(conn, name, other, "Archived", now)
                    record(conn, name, other, "stage", "Archived", target, "archive_existing")
            set_stage(conn, name, version, target, now)
            record(conn, name, version, "stage", target, current.stage, comment)
        return self.get_version(name, version)

    def set_alias(self, name: str, alias: str, version: int) -> None:
        """Points ``models:/NAME@ALIAS`` at a version (moving it if it pointed elsewhere)."""
        from aidot.store._schema import model_aliases

        check_name(alias, "alias")
        if stage_name(alias) is not None:
            raise InvalidArgumentError(f"{alias!r} is a stage name; pick another alias")
        self.get_version(name, version)
        aliases = {a: v for v, names in self._aliases(name).items() for a in names}
        previous = aliases.get(alias)
        with self._store.write() as conn:
            conn.execute(
                model_aliases.delete().where(
                    model_aliases.c.name == name, model_aliases.c.alias == alias
                )
            )
            conn.execute(
                model_aliases.insert(),
                [{"name": name, "alias": alias, "version": version, "updated_at": now_ms()}],
            )
            record(
                conn, name, version, "alias", alias, None if previous is None else str(previous), ""
            )

    def delete_alias(self, name: str, alias: str) -> None:
        """Removes an alias."""
        from aidot.store._schema import model_aliases

        version = self._number_for(ModelRef(name, alias=alias))
        with self._store.write() as conn:
            conn.execute(
                model_aliases.delete().where(
                    model_aliases.c.name == name, model_aliases.c.alias == alias
                )
            )
            record(conn, name, version, "unalias", alias, None, "")

    def history(self, name: str) -> builtins.list[HistoryEvent]:
        """A model's audit history, oldest first."""
        import sqlalchemy as sa

        from aidot.store._schema import model_history

        self.get_model(name)
        with self._store.read() as conn:
            rows = conn.execute(
                sa.select(model_history)
                .where(model_history.c.name == name)
                .order_by(model_history.c.at, model_history.c.id)
            ).all()
        return [
            HistoryEvent(r.name, r.version, r.event, r.target, r.previous, r.actor, r.comment, r.at)
            for r in rows
        ]

    def version_at(self, name: str, stage_or_alias: str, at: int) -> int | None:
        """Which version held a stage (the one that entered it last) or an alias at time
        ``at`` (ms since the epoch); ``None`` if none did."""
        stage = stage_name(stage_or_alias)
        holders: dict[int, int] = {}  # version -> when it entered the stage
        aliased: int | None = None
        for event in self.history(name):
            if event.at > at:
                break
            if stage is not None and event.event in ("created", "stage", "deleted"):
                if event.event != "deleted" and event.target == stage:
                    holders[event.version] = event.at
                else:
                    holders.pop(event.version, None)
            elif stage is None and event.target == stage_or_alias:
                aliased = event.version if event.event == "alias" else None
            elif stage is None and event.event == "deleted" and event.version == aliased:
                aliased = None
        if stage is None:
            return aliased
        return max(holders, key=lambda v: (holders[v], v)) if holders else None

    # --- helpers --------------------------------------------------------------------------

    def _number_for(self, ref: ModelRef) -> int:
        import sqlalchemy as sa

        from aidot.store._schema import model_aliases

        self.get_model(ref.name)
        with self._store.read() as conn:
            if ref.stage is not None:
                number = latest_in(conn, ref.name, ref.stage)
                if number is None:
                    raise NotFoundError(f"model {ref.name!r} has no version in {ref.stage}")
                return number
            number = conn.execute(
                sa.select(model_aliases.c.version).where(
                    model_aliases.c.name == ref.name, model_aliases.c.alias == ref.alias
                )
            ).scalar()
        if number is None:
            raise NotFoundError(f"model {ref.name!r} has no alias {ref.alias!r}")
        return int(number)

    def _aliases(self, name: str) -> dict[int, builtins.list[str]]:
        with self._store.read() as conn:
            return aliases_of(conn, name)

    def _dataset_refs(self, run_id: str | None, datasets: Sequence[Any] | None) -> list[str]:
        if datasets is not None:
            refs = []
            for version in datasets:
                ref = getattr(version, "ref", None)
                if not isinstance(ref, str):
                    raise InvalidArgumentError(
                        f"datasets= takes dataset versions (ws.data.get(...)), got "
                        f"{type(version).__name__}"
                    )
                refs.append(ref)
            return refs
        if run_id is None:
            return []
        from aidot.data._inputs import run_inputs_query

        with self._store.read() as conn:
            return [
                f"{row.dataset}@v{row.version}" for row in conn.execute(run_inputs_query(run_id))
            ]

    def _missing_version(self, conn: sa.Connection, name: str, version: int) -> NotFoundError:
        import sqlalchemy as sa

        from aidot.store._schema import models

        if conn.execute(sa.select(models.c.name).where(models.c.name == name)).first() is None:
            return _no_model(name)
        return NotFoundError(
            f"model {name!r} has no version {version}; see aidot models versions {name}"
        )


def _no_model(name: str) -> NotFoundError:
    return NotFoundError(f"no model named {name!r}; list them with aidot models ls")


def _updates(
    current_tags: Mapping[str, str], description: str | None, tags: Mapping[str, Any] | None
) -> dict[str, Any]:
    """The columns an update writes: the description if given, tags merged into the old."""
    values: dict[str, Any] = {"updated_at": now_ms()}
    if description is not None:
        values["description"] = description
    if tags is not None:
        values["tags"] = tags_json({**current_tags, **tags})
    return values
