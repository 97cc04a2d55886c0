"""Who was on the call, in order, across transfers, park and pick-up (JSON text) in its history row.

Rows written before this read back with no parties (NULL).

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("calls") as batch:
        batch.add_column(sa.Column("parties", sa.Text))


def downgrade() -> None:
    with op.batch_alter_table("calls") as batch:
        batch.drop_column("parties")
