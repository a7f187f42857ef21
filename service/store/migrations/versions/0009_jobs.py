"""sync jobs (state, progress, result, the lease of the worker running one), leases (one
sync per source at a time, the scheduler's leader) and the schedules' last slots

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "jobs",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("source_id", sa.String(64), sa.ForeignKey("sources.id"), nullable=False),
        sa.Column("full", sa.Boolean(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("requested_by", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("delivered_at", sa.DateTime(timezone=True)),
        sa.Column("started_at", sa.DateTime(timezone=True)),
        sa.Column("finished_at", sa.DateTime(timezone=True)),
        sa.Column("pass_started_at", sa.DateTime(timezone=True)),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("owner", sa.String(128)),
        sa.Column("lease_until", sa.DateTime(timezone=True)),
        sa.Column("items", sa.Integer(), nullable=False),
        sa.Column("items_total", sa.Integer()),
        sa.Column("pages", sa.Integer(), nullable=False),
        sa.Column("errors", sa.Integer(), nullable=False),
        sa.Column("result", sa.JSON()),
        sa.Column("error", sa.Text()),
    )
    op.create_index("ix_jobs_source_state", "jobs", ["source_id", "state"])
    op.create_index("ix_jobs_state_lease", "jobs", ["state", "lease_until"])
    op.create_table(
        "leases",
        sa.Column("name", sa.String(128), primary_key=True),
        sa.Column("owner", sa.String(128)),
        sa.Column("holder", sa.String(64)),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "schedule_state",
        sa.Column("source_id", sa.String(64), sa.ForeignKey("sources.id"), primary_key=True),
        sa.Column("last_slot", sa.DateTime(timezone=True)),
    )


def downgrade() -> None:
    op.drop_table("schedule_state")
    op.drop_table("leases")
    op.drop_index("ix_jobs_state_lease", table_name="jobs")
    op.drop_index("ix_jobs_source_state", table_name="jobs")
    op.drop_table("jobs")
