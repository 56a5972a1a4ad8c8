"""Experiment tracking: experiments, runs, params, tags and chunked metric series.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "aidot_experiments",
        sa.Column("id", sa.String(26), primary_key=True),
        sa.Column("name", sa.String(255), nullable=False, unique=True),
        sa.Column("lifecycle", sa.String(16), nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("updated_at", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "aidot_runs",
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
    )
    op.create_index("ix_aidot_runs_experiment", "aidot_runs", ["experiment_id", "start_time"])
    for name in ("aidot_params", "aidot_tags"):
        op.create_table(
            name,
            sa.Column("run_id", sa.String(26), sa.ForeignKey("aidot_runs.id"), primary_key=True),
            sa.Column("key", sa.String(250), primary_key=True),
            sa.Column("value", sa.Text, nullable=False),
        )
    op.create_table(
        "aidot_metric_series",
        sa.Column("run_id", sa.String(26), sa.ForeignKey("aidot_runs.id"), primary_key=True),
        sa.Column("key", sa.String(250), primary_key=True),
        sa.Column("points", sa.BigInteger, nullable=False),
        sa.Column("chunks", sa.Integer, nullable=False),
        sa.Column("last_step", sa.BigInteger, nullable=False),
        sa.Column("last_value", sa.Float, nullable=True),
        sa.Column("last_timestamp", sa.BigInteger, nullable=False),
        sa.Column("downsample", sa.LargeBinary, nullable=False),
    )
    op.create_table(
        "aidot_metric_chunks",
        sa.Column("run_id", sa.String(26), primary_key=True),
        sa.Column("key", sa.String(250), primary_key=True),
        sa.Column("seq", sa.Integer, primary_key=True),
        sa.Column("points", sa.Integer, nullable=False),
        sa.Column("step_min", sa.BigInteger, nullable=False),
        sa.Column("step_max", sa.BigInteger, nullable=False),
        sa.Column("data", sa.LargeBinary, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("aidot_metric_chunks")
    op.drop_table("aidot_metric_series")
    op.drop_table("aidot_tags")
    op.drop_table("aidot_params")
    op.drop_index("ix_aidot_runs_experiment", table_name="aidot_runs")
    op.drop_table("aidot_runs")
    op.drop_table("aidot_experiments")
