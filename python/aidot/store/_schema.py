"""The tables of the metadata store, as SQLAlchemy Core objects.

Each component owns a family of tables with its own prefix; every schema change comes with an
Alembic migration in ``migrations/versions`` and a new entry in :data:`REVISIONS`.
"""

from __future__ import annotations

import sqlalchemy as sa

REVISIONS: tuple[str, ...] = ("0001",)
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
)
"""Which owner (a dataset version, a checkpoint, a run's artifact...) uses which blob. The live
set for blob garbage collection is every digest listed here."""
