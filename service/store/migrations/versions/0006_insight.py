"""community insight: precomputed topic activity, bursts, the connection map, recent topics

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "insight_topic_weeks",
        sa.Column("scope", sa.String(8), nullable=False),
        sa.Column("topic", sa.String(255), nullable=False),
        sa.Column("week", sa.Date(), nullable=False),
        sa.Column("audience", sa.String(16), nullable=False),
        sa.Column("contributions", sa.Integer(), nullable=False),
        sa.Column("participants", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("scope", "topic", "week", "audience"),
    )
    op.create_table(
        "insight_bursts",
        sa.Column("scope", sa.String(8), nullable=False),
        sa.Column("topic", sa.String(255), nullable=False),
        sa.Column("start", sa.Date(), nullable=False),
        sa.Column("peak", sa.Date(), nullable=False),
        sa.Column("end", sa.Date()),
        sa.Column("peak_contributions", sa.Integer(), nullable=False),
        sa.Column("baseline", sa.Float(), nullable=False),
        sa.Column("strength", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("scope", "topic", "start"),
    )
    op.create_table(
        "insight_edges",
        sa.Column("scope", sa.String(8), nullable=False),
        sa.Column("topic", sa.String(255), nullable=False),
        sa.Column("person_a", sa.Integer(), nullable=False),
        sa.Column("person_b", sa.Integer(), nullable=False),
        sa.Column("weight", sa.Float(), nullable=False),
        sa.Column("replies", sa.Integer(), nullable=False),
        sa.Column("likes", sa.Integer(), nullable=False),
        sa.Column("accepts", sa.Integer(), nullable=False),
        sa.Column("threads", sa.Integer(), nullable=False),
        sa.Column("last_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("scope", "topic", "person_a", "person_b"),
    )
    op.create_index("ix_insight_edges_weight", "insight_edges", ["scope", "topic", "weight"])
    op.create_index("ix_insight_edges_b", "insight_edges", ["scope", "topic", "person_b"])
    op.create_table(
        "insight_nodes",
        sa.Column("scope", sa.String(8), nullable=False),
        sa.Column("topic", sa.String(255), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("communities", sa.String(40), nullable=False),
        sa.Column("strength", sa.Float(), nullable=False),
        sa.Column("bridge", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("scope", "topic", "person_id"),
    )
    op.create_index("ix_insight_nodes_bridge", "insight_nodes", ["scope", "topic", "bridge"])
    op.create_table(
        "insight_person_topics",
        sa.Column("scope", sa.String(8), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("topic", sa.String(255), nullable=False),
        sa.Column("community", sa.String(16), nullable=False),
        sa.Column("contributions", sa.Integer(), nullable=False),
        sa.Column("last_30_days", sa.Integer(), nullable=False),
        sa.Column("last_90_days", sa.Integer(), nullable=False),
        sa.Column("last_active", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("scope", "person_id", "topic"),
    )
    op.create_index("ix_insight_person_topics_topic", "insight_person_topics",
                    ["scope", "topic", "last_90_days"])
    op.create_table(
        "insight_maps",
        sa.Column("scope", sa.String(8), nullable=False),
        sa.Column("topic", sa.String(255), nullable=False),
        sa.Column("edges", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("scope", "topic"),
    )
    op.create_table(
        "insight_state",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("computed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("as_of", sa.DateTime(timezone=True), nullable=False),
        sa.Column("seconds", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )


def downgrade() -> None:
    for table in ("insight_state", "insight_maps", "insight_person_topics", "insight_nodes",
                  "insight_edges", "insight_bursts", "insight_topic_weeks"):
        op.drop_table(table)
