"""The tables of the metadata store, as SQLAlchemy Core objects.

Each component owns a family of tables with its own prefix; every schema change comes with an
Alembic migration in ``migrations/versions`` and a new entry in :data:`REVISIONS`.
"""

from __future__ import annotations

import sqlalchemy as sa

REVISIONS: tuple[str, ...] = (
    "0001",
    "0002",
    "0003",
    "0004",
    "0005",
    "0006",
    "0007",
    "0008",
    "0009",
    "0010",
    "0011",
)
"""Every migration revision this aidot knows, oldest first."""

HEAD = REVISIONS[-1]
"""The schema revision this aidot writes."""

VERSION_TABLE = "aidot_alembic_version"
"""Alembic's bookkeeping table, prefixed so that a shared database's own Alembic is untouched."""

metadata = sa.MetaData()

workspace_info = sa.Table(
    "aidot_workspace",
    metadata,
    sa.Column("key", sa.String(64), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
)
"""Facts about the workspace: its id, when it was created, by which aidot version."""

blob_refs = sa.Table(
    "aidot_blob_refs",
    metadata,
    sa.Column("owner", sa.String(255), primary_key=True),
    sa.Column("digest", sa.String(64), primary_key=True),
    sa.Column("created_at", sa.BigInteger, nullable=False),
    sa.Index("ix_aidot_blob_refs_digest", "digest"),
    # Clustered on (owner, digest) on SQLite: a row lands in two B-trees, not three.
    sqlite_with_rowid=False,
)
"""Which owner (a dataset version, a checkpoint, a run's artifact...) uses which blob. The live
set for blob garbage collection is every digest listed here."""


# --- experiment tracking (aidot.tracking) -------------------------------------------------------

experiments = sa.Table(
    "aidot_experiments",
    metadata,
    sa.Column("id", sa.String(26), primary_key=True),
    sa.Column("name", sa.String(255), nullable=False, unique=True),
    sa.Column("lifecycle", sa.String(16), nullable=False),
    sa.Column("created_at", sa.BigInteger, nullable=False),
    sa.Column("updated_at", sa.BigInteger, nullable=False),
)
"""Experiments group runs; ``lifecycle`` is ``active`` or ``deleted`` (restorable)."""

runs = sa.Table(
    "aidot_runs",
    metadata,
    sa.Column("id", sa.String(26), primary_key=True),
    sa.Column(
        "experiment_id", sa.String(26), sa.ForeignKey("aidot_experiments.id"), nullable=False
    ),
    sa.Column("name", sa.String(255), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("parent_id", sa.String(26), nullable=True),
    sa.Column("start_time", sa.BigInteger, nullable=False),
    sa.Column("end_time", sa.BigInteger, nullable=True),
    sa.Column("heartbeat_at", sa.BigInteger, nullable=False),
    sa.Column("context", sa.Text, nullable=False),
    sa.Column("lifecycle", sa.String(16), nullable=False, server_default="active"),
    sa.Index("ix_aidot_runs_experiment", "experiment_id", "start_time"),
)
"""Runs; ``context`` is the captured environment as JSON (git, command line, host, versions);
``lifecycle`` is ``active`` or ``deleted`` (hidden from searches, restorable)."""


def _run_key_values(name: str) -> sa.Table:
    """A run's string key/value pairs: its params, or its tags."""
    return sa.Table(
        name,
        metadata,
        sa.Column("run_id", sa.String(26), sa.ForeignKey("aidot_runs.id"), primary_key=True),
        sa.Column("key", sa.String(250), primary_key=True),
        sa.Column("value", sa.Text, nullable=False),
    )


params = _run_key_values("aidot_params")
"""A run's parameters; a key's value never changes once logged."""

tags = _run_key_values("aidot_tags")
"""A run's tags; values may be replaced."""

metric_series = sa.Table(
    "aidot_metric_series",
    metadata,
    sa.Column("run_id", sa.String(26), sa.ForeignKey("aidot_runs.id"), primary_key=True),
    sa.Column("key", sa.String(250), primary_key=True),
    sa.Column("points", sa.BigInteger, nullable=False),
    sa.Column("chunks", sa.Integer, nullable=False),
    sa.Column("last_step", sa.BigInteger, nullable=False),
    sa.Column("last_value", sa.Float, nullable=True),
    sa.Column("last_timestamp", sa.BigInteger, nullable=False),
    sa.Column("downsample", sa.LargeBinary, nullable=False),
)
"""One row per metric of a run: the latest point (for searching and ordering) and a compact
downsample of the whole series (min, max and last per bucket). ``last_value`` is NULL for NaN
on SQLite, which cannot store NaN; the exact values live in the chunks."""

metric_chunks = sa.Table(
    "aidot_metric_chunks",
    metadata,
    sa.Column("run_id", sa.String(26), primary_key=True),
    sa.Column("key", sa.String(250), primary_key=True),
    sa.Column("seq", sa.Integer, primary_key=True),
    sa.Column("points", sa.Integer, nullable=False),
    sa.Column("step_min", sa.BigInteger, nullable=False),
    sa.Column("step_max", sa.BigInteger, nullable=False),
    sa.Column("data", sa.LargeBinary, nullable=False),
)
"""A series' points in order, a few thousand per row, compressed (see tracking/_series.py)."""

run_artifacts = sa.Table(
    "aidot_run_artifacts",
    metadata,
    sa.Column("run_id", sa.String(26), sa.ForeignKey("aidot_runs.id"), primary_key=True),
    sa.Column("path", sa.String(1024), primary_key=True),
    sa.Column("digest", sa.String(64), nullable=False),
    sa.Column("size", sa.BigInteger, nullable=False),
    sa.Column("created_at", sa.BigInteger, nullable=False),
)
"""Files a run logged: a relative path in the run's artifact tree and the blob holding it."""

checkpoints = sa.Table(
    "aidot_checkpoints",
    metadata,
    sa.Column("id", sa.String(26), primary_key=True),
    sa.Column("run_id", sa.String(26), sa.ForeignKey("aidot_runs.id"), nullable=False),
    sa.Column("step", sa.BigInteger, nullable=True),
    sa.Column("epoch", sa.BigInteger, nullable=True),
    sa.Column("metrics", sa.Text, nullable=False),
    sa.Column("manifest", sa.String(64), nullable=False),
    sa.Column("size", sa.BigInteger, nullable=False),
    sa.Column("created_at", sa.BigInteger, nullable=False),
    sa.Index("ix_aidot_checkpoints_run", "run_id", "created_at"),
)
"""A run's checkpoints that retention kept: metrics as JSON (what top-k ranks by, so a resumed
run keeps pruning correctly) and the digest of the manifest blob describing the state. The blobs
are referenced as owner ``checkpoint:<id>``."""

datasets = sa.Table(
    "aidot_datasets",
    metadata,
    sa.Column("name", sa.String(255), primary_key=True),
    sa.Column("created_at", sa.BigInteger, nullable=False),
)
"""Named datasets under data version control."""

dataset_versions = sa.Table(
    "aidot_dataset_versions",
    metadata,
    sa.Column("id", sa.String(26), primary_key=True),
    sa.Column("dataset", sa.String(255), sa.ForeignKey("aidot_datasets.name"), nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("manifest", sa.String(64), nullable=False),
    sa.Column("message", sa.Text, nullable=False),
    sa.Column("files", sa.BigInteger, nullable=False),
    sa.Column("bytes", sa.BigInteger, nullable=False),
    sa.Column("source", sa.Text, nullable=False),
    sa.Column("created_at", sa.BigInteger, nullable=False),
    sa.UniqueConstraint("dataset", "version", name="uq_aidot_dataset_versions"),
)
"""Versions 1, 2, ... of a dataset: the digest of the manifest blob (relative path -> digest,
size, mode), counts, and the folder it was added from. The blobs of every version of a
dataset are referenced as owner ``dataset:<name>``."""

dataset_tags = sa.Table(
    "aidot_dataset_tags",
    metadata,
    sa.Column("dataset", sa.String(255), sa.ForeignKey("aidot_datasets.name"), primary_key=True),
    sa.Column("tag", sa.String(255), primary_key=True),
    sa.Column(
        "version_id", sa.String(26), sa.ForeignKey("aidot_dataset_versions.id"), nullable=False
    ),
    sa.Column("created_at", sa.BigInteger, nullable=False),
)
"""Names for versions (``NAME@TAG``); a tag, once set, is not moved."""

run_inputs = sa.Table(
    "aidot_run_inputs",
    metadata,
    sa.Column("run_id", sa.String(26), sa.ForeignKey("aidot_runs.id"), primary_key=True),
    sa.Column(
        "version_id", sa.String(26), sa.ForeignKey("aidot_dataset_versions.id"), primary_key=True
    ),
    sa.Column("created_at", sa.BigInteger, nullable=False),
)
"""Which dataset versions a run used (``run.log_input``)."""

remotes = sa.Table(
    "aidot_remotes",
    metadata,
    sa.Column("name", sa.String(255), primary_key=True),
    sa.Column("url", sa.Text, nullable=False),
    sa.Column("options", sa.Text, nullable=False),
    sa.Column("created_at", sa.BigInteger, nullable=False),
)
"""Named data remotes: a URL (``s3://bucket/prefix``, ``file:///path``) and object-store
options as JSON (endpoint, region...; credentials belong in the environment, not here)."""

models = sa.Table(
    "aidot_models",
    metadata,
    sa.Column("name", sa.String(255), primary_key=True),
    sa.Column("description", sa.Text, nullable=False),
    sa.Column("tags", sa.Text, nullable=False),
    sa.Column("created_at", sa.BigInteger, nullable=False),
    sa.Column("updated_at", sa.BigInteger, nullable=False),
)
"""Registered models; ``tags`` as a JSON object."""

model_versions = sa.Table(
    "aidot_model_versions",
    metadata,
    sa.Column("id", sa.String(26), primary_key=True),
    sa.Column("name", sa.String(255), sa.ForeignKey("aidot_models.name"), nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("stage", sa.String(16), nullable=False),
    sa.Column("source", sa.Text, nullable=False),
    sa.Column("run_id", sa.String(26), nullable=True),
    sa.Column("lineage", sa.Text, nullable=False),
    sa.Column("signature", sa.Text, nullable=True),
    sa.Column("metrics", sa.Text, nullable=False),
    sa.Column("description", sa.Text, nullable=False),
    sa.Column("tags", sa.Text, nullable=False),
    sa.Column("created_at", sa.BigInteger, nullable=False),
    sa.Column("updated_at", sa.BigInteger, nullable=False),
    sa.UniqueConstraint("name", "version", name="uq_aidot_model_versions"),
)
"""Versions 1, 2, ... of a model: where its content is (``source``, JSON: stored files or a
checkpoint), its run and lineage (dataset versions, checkpoint, replaced version: JSON), stage,
signature, metrics, description and tags. Blobs are referenced as owner ``model:<id>``."""

model_aliases = sa.Table(
    "aidot_model_aliases",
    metadata,
    sa.Column("name", sa.String(255), sa.ForeignKey("aidot_models.name"), primary_key=True),
    sa.Column("alias", sa.String(255), primary_key=True),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("updated_at", sa.BigInteger, nullable=False),
)
"""``models:/NAME@ALIAS`` -> version: the convention MLflow users moved to from stages."""

model_history = sa.Table(
    "aidot_model_history",
    metadata,
    sa.Column("id", sa.String(26), primary_key=True),
    sa.Column("name", sa.String(255), nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("event", sa.String(16), nullable=False),
    sa.Column("target", sa.String(255), nullable=False),
    sa.Column("previous", sa.String(255), nullable=True),
    sa.Column("actor", sa.String(255), nullable=False),
    sa.Column("comment", sa.Text, nullable=False),
    sa.Column("at", sa.BigInteger, nullable=False),
    sa.Index("ix_aidot_model_history", "name", "at"),
)
"""Append-only audit of a model: ``event`` is ``created``, ``stage`` (``target`` the new stage,
``previous`` the old), ``alias`` (``target`` the alias), ``unalias`` or ``deleted``; who did it
and why. Answers which version held a stage or alias at any time."""


# --- hyperparameter tuning (aidot.tuning) -------------------------------------------------------

studies = sa.Table(
    "aidot_studies",
    metadata,
    sa.Column("id", sa.String(26), primary_key=True),
    sa.Column("name", sa.String(255), nullable=False, unique=True),
    sa.Column("directions", sa.Text, nullable=False),
    sa.Column("run_id", sa.String(26), sa.ForeignKey("aidot_runs.id"), nullable=True),
    sa.Column("user_attrs", sa.Text, nullable=False),
    sa.Column("system_attrs", sa.Text, nullable=False),
    sa.Column("created_at", sa.BigInteger, nullable=False),
)
"""Studies: the objectives' directions (JSON list), the tracking run that is the parent of the
trials' runs, and attributes as JSON objects."""

trials = sa.Table(
    "aidot_trials",
    metadata,
    sa.Column("id", sa.String(26), primary_key=True),
    sa.Column("study_id", sa.String(26), sa.ForeignKey("aidot_studies.id"), nullable=False),
    sa.Column("number", sa.Integer, nullable=False),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("claim", sa.String(64), nullable=True),
    sa.Column("run_id", sa.String(26), sa.ForeignKey("aidot_runs.id"), nullable=True),
    sa.Column("params", sa.Text, nullable=False),
    sa.Column("distributions", sa.Text, nullable=False),
    sa.Column("fixed_params", sa.Text, nullable=True),
    sa.Column("objective_values", sa.Text, nullable=True),
    sa.Column("intermediate", sa.Text, nullable=False),
    sa.Column("user_attrs", sa.Text, nullable=False),
    sa.Column("system_attrs", sa.Text, nullable=False),
    sa.Column("started_at", sa.BigInteger, nullable=True),
    sa.Column("completed_at", sa.BigInteger, nullable=True),
    sa.UniqueConstraint("study_id", "number", name="uq_aidot_trials_number"),
    sa.UniqueConstraint("study_id", "claim", name="uq_aidot_trials_claim"),
    # The oldest WAITING trial and the RUNNING ones, without reading every trial of the study.
    sa.Index("ix_aidot_trials_state", "study_id", "state", "number"),
)
"""Trials 0, 1, ... of a study. ``params`` maps names to the samplers' internal floats and
``distributions`` names to their JSON; ``objective_values`` and ``intermediate`` (step ->
value) are JSON too, so that one row is one trial and reading a study is one query. ``claim``
is what a sampler reserved for the trial when it was created (a grid point): unique in the
study, so two workers never take the same one. A RUNNING trial is alive while its run's
heartbeat is."""
