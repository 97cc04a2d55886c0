"""The path a call took (hotline > menu main > group 600 > 104) in its history row.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("calls") as batch:
        batch.add_column(sa.Column("path", sa.String(512)))


def downgrade() -> None:
    with op.batch_alter_table("calls") as batch:
        batch.drop_column("path")
