"""An index and a unique constraint on a table created in the same revision.

Revision ID: index_on_new_table
"""

import sqlalchemy as sa
from alembic import op

revision: str = "index_on_new_table"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    """An index and a unique constraint on a table created in the same revision."""
    op.create_table(
        "audit_log",
        sa.Column("id", sa.BigInteger(), sa.Identity(), primary_key=True),
        sa.Column("message", sa.Text(), nullable=False),
    )
    op.create_index("ix_audit_log_message", "audit_log", ["message"])
    op.create_unique_constraint("uq_audit_log_message", "audit_log", ["message"])


def downgrade() -> None:
    """Nothing to undo in a lint example."""
