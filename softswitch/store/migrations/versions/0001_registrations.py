"""Registration bindings.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "registrations",
        sa.Column("id", sa.String(600), primary_key=True),
        sa.Column("account", sa.String(64), nullable=False),
        sa.Column("extension", sa.String(32), nullable=False),
        sa.Column("binding_key", sa.String(512), nullable=False),
        sa.Column("contact", sa.String(1024), nullable=False),
        sa.Column("uri", sa.String(1024), nullable=False),
        sa.Column("expires_at", sa.Float, nullable=False),
        sa.Column("registered_at", sa.Float, nullable=False),
        sa.Column("call_id", sa.String(256), nullable=False),
        sa.Column("cseq", sa.Integer, nullable=False),
        sa.Column("transport", sa.String(8), nullable=False),
        sa.Column("source_host", sa.String(64), nullable=False),
        sa.Column("source_port", sa.Integer, nullable=False),
        sa.Column("nat", sa.Boolean, nullable=False),
        sa.Column("instance", sa.String(256)),
        sa.Column("reg_id", sa.Integer),
        sa.Column("q", sa.String(8)),
        sa.Column("user_agent", sa.String(256), nullable=False),
    )
    op.create_index("ix_registrations_aor", "registrations", ["account", "extension"])
    op.create_index("ix_registrations_expires", "registrations", ["expires_at"])


def downgrade() -> None:
    op.drop_table("registrations")
