"""suppressions of erased people

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "suppressions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("source_id", sa.String(length=64), nullable=True),
        sa.Column("external_id", sa.String(length=255), nullable=True),
        sa.Column("email", sa.String(length=320), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_suppressions_account", "suppressions", ["source_id", "external_id"])
    op.create_index("ix_suppressions_email", "suppressions", ["email"])


def downgrade() -> None:
    op.drop_index("ix_suppressions_email", "suppressions")
    op.drop_index("ix_suppressions_account", "suppressions")
    op.drop_table("suppressions")
