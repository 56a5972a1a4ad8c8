"""Data version control: datasets, their versions and tags, and the runs that used them.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "aidot_datasets",
        sa.Column("name", sa.String(255), primary_key=True),
        sa.Column("created_at", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "aidot_dataset_versions",
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
    op.create_table(
        "aidot_dataset_tags",
        sa.Column(
            "dataset", sa.String(255), sa.ForeignKey("aidot_datasets.name"), primary_key=True
        ),
        sa.Column("tag", sa.String(255), primary_key=True),
        sa.Column(
            "version_id", sa.String(26), sa.ForeignKey("aidot_dataset_versions.id"), nullable=False
        ),
        sa.Column("created_at", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "aidot_run_inputs",
        sa.Column("run_id", sa.String(26), sa.ForeignKey("aidot_runs.id"), primary_key=True),
        sa.Column(
            "version_id",
            sa.String(26),
            sa.ForeignKey("aidot_dataset_versions.id"),
            primary_key=True,
        ),
        sa.Column("created_at", sa.BigInteger, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("aidot_run_inputs")
    op.drop_table("aidot_dataset_tags")
    op.drop_table("aidot_dataset_versions")
    op.drop_table("aidot_datasets")
