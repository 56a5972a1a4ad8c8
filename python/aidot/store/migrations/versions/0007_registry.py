"""Model registry: models, versions with their lineage, aliases, and the stage history.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "aidot_models",
        sa.Column("name", sa.String(255), primary_key=True),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("tags", sa.Text, nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("updated_at", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "aidot_model_versions",
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
    op.create_table(
        "aidot_model_aliases",
        sa.Column("name", sa.String(255), sa.ForeignKey("aidot_models.name"), primary_key=True),
        sa.Column("alias", sa.String(255), primary_key=True),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("updated_at", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "aidot_model_history",
        sa.Column("id", sa.String(26), primary_key=True),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("event", sa.String(16), nullable=False),
        sa.Column("target", sa.String(255), nullable=False),
        sa.Column("previous", sa.String(255), nullable=True),
        sa.Column("actor", sa.String(255), nullable=False),
        sa.Column("comment", sa.Text, nullable=False),
        sa.Column("at", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_aidot_model_history", "aidot_model_history", ["name", "at"])


def downgrade() -> None:
    op.drop_index("ix_aidot_model_history", "aidot_model_history")
    op.drop_table("aidot_model_history")
    op.drop_table("aidot_model_aliases")
    op.drop_table("aidot_model_versions")
    op.drop_table("aidot_models")
