"""the person prior of the search ranking: responses, accepted, votes, decayed activity

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-04
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
        "profile_people",
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("scope", sa.String(8), nullable=False),
        sa.Column("responses", sa.Integer(), nullable=False),
        sa.Column("accepted", sa.Integer(), nullable=False),
        sa.Column("votes", sa.Integer(), nullable=False),
        sa.Column("activity_log2", sa.Float()),
        sa.Column("last_active", sa.DateTime(timezone=True)),
        sa.ForeignKeyConstraint(["person_id"], ["people.id"]),
        sa.PrimaryKeyConstraint("person_id", "scope"),
    )
    op.create_index("ix_profile_people_responses", "profile_people", ["scope", "responses"])


def downgrade() -> None:
    op.drop_index("ix_profile_people_responses", table_name="profile_people")
    op.drop_table("profile_people")
