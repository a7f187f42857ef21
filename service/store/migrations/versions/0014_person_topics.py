"""what people decided about their own topics: hidden from everyone, hidden from the
external audiences, or confirmed (the "my profile" page)

A search reads the table (a hidden topic finds nobody on its strength), so its writes
bump the search generation as migration 0008's tables do.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

_BUMP = "UPDATE search_generation SET value = value + 1 WHERE id = 1"


def upgrade() -> None:
    op.create_table(
        "person_topics",
        sa.Column("email", sa.String(320), nullable=False),
        sa.Column("topic", sa.String(255), nullable=False),
        sa.Column("person_id", sa.Integer()),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("subject", sa.String(255), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("email", "topic"),
    )
    op.create_index("ix_person_topics_person", "person_topics", ["person_id"])
    if op.get_bind().dialect.name == "sqlite":
        for event in ("INSERT", "UPDATE", "DELETE"):
            op.execute(f"CREATE TRIGGER IF NOT EXISTS search_generation_person_topics_"
                       f"{event.lower()} AFTER {event} ON person_topics BEGIN {_BUMP}; END")
        return
    op.execute("CREATE CONSTRAINT TRIGGER search_generation_person_topics "
               "AFTER INSERT OR UPDATE OR DELETE ON person_topics "
               "DEFERRABLE INITIALLY DEFERRED FOR EACH ROW "
               "WHEN (whoknows_search_changed()) "
               "EXECUTE FUNCTION whoknows_bump_search_generation()")


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for event in ("insert", "update", "delete"):
            op.execute(f"DROP TRIGGER IF EXISTS search_generation_person_topics_{event}")
    else:
        op.execute("DROP TRIGGER IF EXISTS search_generation_person_topics ON person_topics")
    op.drop_index("ix_person_topics_person", table_name="person_topics")
    op.drop_table("person_topics")
