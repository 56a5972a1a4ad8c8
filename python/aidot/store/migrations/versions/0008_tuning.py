"""Hyperparameter tuning: studies and their trials.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "aidot_studies",
        sa.Column("id", sa.String(26), primary_key=True),
        sa.Column("name", sa.String(255), nullable=False, unique=True),
        sa.Column("directions", sa.Text, nullable=False),
        sa.Column("run_id", sa.String(26), sa.ForeignKey("aidot_runs.id"), nullable=True),
        sa.Column("user_attrs", sa.Text, nullable=False),
        sa.Column("system_attrs", sa.Text, nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "aidot_trials",
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
    )


def downgrade() -> None:
    op.drop_table("aidot_trials")
    op.drop_table("aidot_studies")
