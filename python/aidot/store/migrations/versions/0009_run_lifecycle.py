"""Runs can be deleted and restored: a lifecycle column, as experiments have.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("aidot_runs") as batch:
        batch.add_column(
            sa.Column("lifecycle", sa.String(16), nullable=False, server_default="active")
        )


def downgrade() -> None:
    with op.batch_alter_table("aidot_runs") as batch:
        batch.drop_column("lifecycle")
