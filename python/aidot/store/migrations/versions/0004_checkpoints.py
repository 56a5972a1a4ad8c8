"""Checkpoints: a run's saved training states, each a manifest blob of array blobs.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "aidot_checkpoints",
        sa.Column("id", sa.String(26), primary_key=True),
        sa.Column("run_id", sa.String(26), sa.ForeignKey("aidot_runs.id"), nullable=False),
        sa.Column("step", sa.BigInteger, nullable=True),
        sa.Column("epoch", sa.BigInteger, nullable=True),
        sa.Column("metrics", sa.Text, nullable=False),
        sa.Column("manifest", sa.String(64), nullable=False),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_aidot_checkpoints_run", "aidot_checkpoints", ["run_id", "created_at"])


def downgrade() -> None:
    op.drop_index("ix_aidot_checkpoints_run", "aidot_checkpoints")
    op.drop_table("aidot_checkpoints")
