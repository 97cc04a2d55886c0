"""People in the call history (caller_person, callee_person) and the operators' audit log.

Rows written before this read back with no person (NULL).

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("calls") as batch:
        batch.add_column(sa.Column("caller_person", sa.String(64)))
        batch.add_column(sa.Column("callee_person", sa.String(64)))
        batch.create_index("ix_calls_caller_person", ["caller_person"])
        batch.create_index("ix_calls_callee_person", ["callee_person"])
    op.create_table(
        "audit",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("at", sa.Float, nullable=False),
        sa.Column("actor", sa.String(128), nullable=False),
        sa.Column("account", sa.String(64), nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("subject", sa.String(128), nullable=False),
        sa.Column("person", sa.String(64)),
        sa.Column("before", sa.Text),
        sa.Column("after", sa.Text),
        sa.Column("version", sa.String(32), nullable=False),
    )
    op.create_index("ix_audit_account_at", "audit", ["account", "at"])
    op.create_index("ix_audit_at", "audit", ["at"])


def downgrade() -> None:
    op.drop_table("audit")
    with op.batch_alter_table("calls") as batch:
        batch.drop_index("ix_calls_callee_person")
        batch.drop_index("ix_calls_caller_person")
        batch.drop_column("callee_person")
        batch.drop_column("caller_person")
