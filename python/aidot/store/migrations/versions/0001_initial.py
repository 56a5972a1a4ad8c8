"""The foundation: workspace facts and blob references.

Revision ID: 0001
Revises:
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "aidot_workspace",
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("value", sa.Text, nullable=False),
    )
    op.create_table(
        "aidot_blob_refs",
        sa.Column("owner", sa.String(255), primary_key=True),
        sa.Column("digest", sa.String(64), primary_key=True),
        sa.Column("created_at", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_aidot_blob_refs_digest", "aidot_blob_refs", ["digest"])


def downgrade() -> None:
    op.drop_index("ix_aidot_blob_refs_digest", table_name="aidot_blob_refs")
    op.drop_table("aidot_blob_refs")
    op.drop_table("aidot_workspace")
