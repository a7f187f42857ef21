"""identity review: merge suggestions, the identity audit log, self-claims of accounts,
accounts' bio and website

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("identities") as batch:
        batch.add_column(sa.Column("bio", sa.Text()))
        batch.add_column(sa.Column("website", sa.Text()))
    op.create_table(
        "identity_suggestions",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("identity_id", sa.Integer(), nullable=False),
        sa.Column("other_identity_id", sa.Integer(), nullable=False),
        sa.Column("confidence", sa.Float(), nullable=False),
        sa.Column("reasons", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decided_by", sa.String(200)),
        sa.Column("decided_at", sa.DateTime(timezone=True)),
        sa.Column("note", sa.Text()),
        sa.UniqueConstraint("identity_id", "other_identity_id", name="uq_identity_suggestion"),
    )
    op.create_index("ix_identity_suggestions_status", "identity_suggestions",
                    ["status", "confidence"])
    op.create_table(
        "identity_audit",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("method", sa.String(32), nullable=False),
        sa.Column("reason", sa.Text()),
        sa.Column("suggestion_id", sa.Integer()),
        sa.Column("undoes", sa.Integer()),
        sa.Column("before", sa.JSON(), nullable=False),
        sa.Column("after", sa.JSON(), nullable=False),
    )
    op.create_table(
        "identity_audit_accounts",
        sa.Column("entry_id", sa.Integer(), sa.ForeignKey("identity_audit.id"), nullable=False),
        sa.Column("identity_id", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("entry_id", "identity_id"),
    )
    op.create_index("ix_identity_audit_accounts_identity", "identity_audit_accounts",
                    ["identity_id"])
    op.create_table(
        "identity_claims",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("identity_id", sa.Integer(), nullable=False),
        sa.Column("subject", sa.String(255), nullable=False),
        sa.Column("code", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True)),
        sa.UniqueConstraint("code", name="uq_identity_claim_code"),
    )
    op.create_index("ix_identity_claims_status", "identity_claims", ["status", "identity_id"])


def downgrade() -> None:
    op.drop_index("ix_identity_claims_status", table_name="identity_claims")
    op.drop_table("identity_claims")
    op.drop_index("ix_identity_audit_accounts_identity", table_name="identity_audit_accounts")
    op.drop_table("identity_audit_accounts")
    op.drop_table("identity_audit")
    op.drop_index("ix_identity_suggestions_status", table_name="identity_suggestions")
    op.drop_table("identity_suggestions")
    with op.batch_alter_table("identities") as batch:
        batch.drop_column("website")
        batch.drop_column("bio")
