"""Blob references clustered on their primary key (SQLite ``WITHOUT ROWID``).

A 50,000-file dataset adds 50,000 references in one transaction. As a rowid table each row
lands in three B-trees (the rows, the primary key's index, the digest index); clustered on
(owner, digest) it lands in two, which cuts the insert and the commit's WAL write by about a
third. PostgreSQL tables have no rowid: nothing changes there.

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-27
"""

from __future__ import annotations

from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

_COLUMNS = "owner VARCHAR(255) NOT NULL, digest VARCHAR(64) NOT NULL, created_at BIGINT NOT NULL"


def _rebuild(table_options: str) -> None:
    """Copies the table into a new one with ``table_options``, inside the migration's
    transaction (SQLite cannot alter a table's storage in place)."""
    if op.get_bind().dialect.name != "sqlite":
        return
    key = "PRIMARY KEY (owner, digest)"
    op.execute(f"CREATE TABLE aidot_blob_refs_new ({_COLUMNS}, {key}){table_options}")
    op.execute(
        "INSERT INTO aidot_blob_refs_new (owner, digest, created_at) "
        "SELECT owner, digest, created_at FROM aidot_blob_refs ORDER BY owner, digest"
    )
    op.execute("DROP TABLE aidot_blob_refs")  # and its digest index
    op.execute("ALTER TABLE aidot_blob_refs_new RENAME TO aidot_blob_refs")
    op.create_index("ix_aidot_blob_refs_digest", "aidot_blob_refs", ["digest"])


def upgrade() -> None:
    _rebuild(" WITHOUT ROWID")


def downgrade() -> None:
    _rebuild("")
