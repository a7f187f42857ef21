"""claims proven by an e-mailed link: the hash of the link's token, where it was sent
(masked) and when, and when it was used

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("identity_claims") as batch:
        # sha256 of the token (hex); the token itself is only in the message
        batch.add_column(sa.Column("link_hash", sa.String(64)))
        batch.add_column(sa.Column("link_sent_to", sa.String(320)))
        batch.add_column(sa.Column("link_sent_at", sa.DateTime(timezone=True)))
        batch.add_column(sa.Column("link_used_at", sa.DateTime(timezone=True)))
    op.create_index("ix_identity_claims_link_hash", "identity_claims", ["link_hash"],
                    unique=True)


def downgrade() -> None:
    op.drop_index("ix_identity_claims_link_hash", table_name="identity_claims")
    with op.batch_alter_table("identity_claims") as batch:
        batch.drop_column("link_used_at")
        batch.drop_column("link_sent_at")
        batch.drop_column("link_sent_to")
        batch.drop_column("link_hash")
