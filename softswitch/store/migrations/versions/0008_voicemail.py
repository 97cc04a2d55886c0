"""Voicemail messages: one row per message kept (records.py ``MessageRow``).

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "messages",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("account", sa.String(64), nullable=False),
        sa.Column("mailbox", sa.String(32), nullable=False),
        sa.Column("person", sa.String(64)),
        sa.Column("caller", sa.String(128), nullable=False),
        sa.Column("received", sa.Float, nullable=False),
        sa.Column("seconds", sa.Float, nullable=False),
        sa.Column("path", sa.String(512), nullable=False),
        sa.Column("heard", sa.Float),
    )
    op.create_index("ix_messages_mailbox", "messages", ["account", "mailbox", "received"])


def downgrade() -> None:
    op.drop_table("messages")
