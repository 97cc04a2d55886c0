"""Call recordings linked from the call history: the file, its length, size and SHA-256, and
when retention deleted it.

Rows written before this read back as not recorded (NULL).

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("calls") as batch:
        batch.add_column(sa.Column("recording_path", sa.String(512)))
        batch.add_column(sa.Column("recording_seconds", sa.Float))
        batch.add_column(sa.Column("recording_bytes", sa.Integer))
        batch.add_column(sa.Column("recording_sha256", sa.String(64)))
        batch.add_column(sa.Column("recording_deleted", sa.Float))


def downgrade() -> None:
    with op.batch_alter_table("calls") as batch:
        for name in ("recording_deleted", "recording_sha256", "recording_bytes", "recording_seconds", "recording_path"):
            batch.drop_column(name)
