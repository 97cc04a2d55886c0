"""Call park: occupied slots, and who parked and picked up a call in its history row.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "parked",
        sa.Column("account", sa.String(64), primary_key=True),
        sa.Column("slot", sa.Integer, primary_key=True),
        sa.Column("call", sa.String(64), nullable=False),
        sa.Column("parked_at", sa.Float, nullable=False),
        sa.Column("expires_at", sa.Float, nullable=False),
        sa.Column("parker", sa.String(64), nullable=False),
        sa.Column("party", sa.String(256), nullable=False),
        sa.Column("node", sa.String(128), nullable=False),
    )
    with op.batch_alter_table("calls") as batch:
        batch.add_column(sa.Column("park_slot", sa.String(8)))
        batch.add_column(sa.Column("parked_by", sa.String(64)))
        batch.add_column(sa.Column("parked_at", sa.Float))
        batch.add_column(sa.Column("retrieved_by", sa.String(64)))
        batch.add_column(sa.Column("retrieved_at", sa.Float))


def downgrade() -> None:
    with op.batch_alter_table("calls") as batch:
        for name in ("retrieved_at", "retrieved_by", "parked_at", "parked_by", "park_slot"):
            batch.drop_column(name)
    op.drop_table("parked")
