"""Call history.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    media = [
        sa.Column(f"{leg}_{name}", kind, nullable=False)
        for leg in ("a", "b")
        for name, kind in (("packets_in", sa.Integer), ("packets_out", sa.Integer), ("lost", sa.Integer), ("jitter_ms", sa.Float))
    ]
    op.create_table(
        "calls",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("account", sa.String(64), nullable=False),
        sa.Column("caller", sa.String(64), nullable=False),
        sa.Column("callee", sa.String(64), nullable=False),
        sa.Column("direction", sa.String(16), nullable=False),
        sa.Column("hotline", sa.String(32)),
        sa.Column("started", sa.Float, nullable=False),
        sa.Column("answered", sa.Float),
        sa.Column("ended", sa.Float),
        sa.Column("duration", sa.Float, nullable=False),
        sa.Column("billed_seconds", sa.Integer, nullable=False),
        sa.Column("disposition", sa.String(16), nullable=False),
        sa.Column("hangup_by", sa.String(16), nullable=False),
        sa.Column("cause", sa.String(256), nullable=False),
        sa.Column("caller_device", sa.String(256), nullable=False),
        sa.Column("callee_device", sa.String(256), nullable=False),
        sa.Column("answered_by", sa.String(64)),
        *media,
    )
    op.create_index("ix_calls_account_started", "calls", ["account", "started"])
    op.create_index("ix_calls_started", "calls", ["started"])


def downgrade() -> None:
    op.drop_table("calls")
