"""First of two revisions: a new column, NOT NULL from the start.

Revision ID: history_makes_column_not_null
"""

import sqlalchemy as sa
from alembic import op

revision: str = "history_makes_column_not_null"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    """A NOT NULL column with a constant default: no rewrite since PostgreSQL 11."""
    op.add_column(
        "users",
        sa.Column("locale", sa.Text(), nullable=False, server_default="en"),
    )


def downgrade() -> None:
    """Nothing to undo in a lint example."""
