"""organisations and their members; open questions; outbound webhooks and their outbox

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "organisations",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("crm_account_id", sa.String(255)),
        sa.Column("origin", sa.String(16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("crm_account_id", name="uq_organisations_crm_account"),
    )
    op.create_table(
        "organisation_domains",
        sa.Column("domain", sa.String(255), primary_key=True),
        sa.Column("organisation_id", sa.String(64), sa.ForeignKey("organisations.id"),
                  nullable=False),
    )
    op.create_index("ix_organisation_domains_org", "organisation_domains", ["organisation_id"])
    op.create_table(
        "organisation_members",
        sa.Column("person_id", sa.Integer(), primary_key=True),
        sa.Column("organisation_id", sa.String(64), sa.ForeignKey("organisations.id"),
                  nullable=False),
        sa.Column("method", sa.String(16), nullable=False),
        sa.Column("detail", sa.Text()),
    )
    op.create_index("ix_organisation_members_org", "organisation_members", ["organisation_id"])
    with op.batch_alter_table("directory_entries") as batch:
        batch.add_column(sa.Column("organisation", sa.String(255)))
        batch.add_column(sa.Column("away_until", sa.Date()))
    with op.batch_alter_table("identities") as batch:
        batch.add_column(sa.Column("organisation", sa.String(255)))
    op.create_table(
        "routing_questions",
        sa.Column("contribution_id", sa.Integer(), primary_key=True),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("answered_at", sa.DateTime(timezone=True)),
        sa.Column("suggested", sa.JSON(), nullable=False),
    )
    op.create_index("ix_routing_questions_state", "routing_questions", ["state"])
    op.create_table(
        "organisation_connections",
        sa.Column("organisation_id", sa.String(64), primary_key=True),
        sa.Column("person_id", sa.Integer(), primary_key=True),
        sa.Column("strength", sa.Float(), nullable=False),
    )
    op.create_table(
        "webhook_subscriptions",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("events", sa.JSON(), nullable=False),
        sa.Column("secret", sa.String(255), nullable=False),
        sa.Column("description", sa.String(255)),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("deleted_at", sa.DateTime(timezone=True)),
    )
    op.create_table(
        "webhook_outbox",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("subscription_id", sa.Integer(), sa.ForeignKey("webhook_subscriptions.id"),
                  nullable=False),
        sa.Column("event_id", sa.String(64), nullable=False),
        sa.Column("event", sa.String(64), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True)),
        sa.Column("last_attempt_at", sa.DateTime(timezone=True)),
        sa.Column("last_status", sa.Integer()),
        sa.Column("last_error", sa.Text()),
        sa.Column("delivered_at", sa.DateTime(timezone=True)),
        sa.UniqueConstraint("subscription_id", "event_id", name="uq_webhook_outbox_event"),
    )
    op.create_index("ix_webhook_outbox_due", "webhook_outbox", ["status", "next_attempt_at"])


def downgrade() -> None:
    op.drop_index("ix_webhook_outbox_due", table_name="webhook_outbox")
    op.drop_table("webhook_outbox")
    op.drop_table("webhook_subscriptions")
    op.drop_table("organisation_connections")
    op.drop_index("ix_routing_questions_state", table_name="routing_questions")
    op.drop_table("routing_questions")
    with op.batch_alter_table("identities") as batch:
        batch.drop_column("organisation")
    with op.batch_alter_table("directory_entries") as batch:
        batch.drop_column("away_until")
        batch.drop_column("organisation")
    op.drop_index("ix_organisation_members_org", table_name="organisation_members")
    op.drop_table("organisation_members")
    op.drop_index("ix_organisation_domains_org", table_name="organisation_domains")
    op.drop_table("organisation_domains")
    op.drop_table("organisations")
