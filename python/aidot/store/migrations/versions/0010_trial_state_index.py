"""Trials by state: asking for a trial finds the oldest enqueued one, and the heartbeat check
the running ones, through an index instead of reading every trial of the study.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-27
"""

from __future__ import annotations

from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_aidot_trials_state", "aidot_trials", ["study_id", "state", "number"])


def downgrade() -> None:
    op.drop_index("ix_aidot_trials_state", table_name="aidot_trials")
