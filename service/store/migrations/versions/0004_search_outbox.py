"""search outbox: contributions whose search-cluster documents are due a refresh

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25
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
        "search_outbox",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        # no foreign key: an erased contribution's row must outlive it to delete its document
        sa.Column("contribution_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )


def downgrade() -> None:
    op.drop_table("search_outbox")
