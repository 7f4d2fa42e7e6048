"""A NOT NULL column: add, backfill in batches, then NOT NULL.

Revision ID: safe_add_not_null_column
"""

import sqlalchemy as sa

from migrationkit.ops import add_not_null_column

revision: str = "safe_add_not_null_column"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    """A NOT NULL column: add, backfill in batches, then NOT NULL."""
    add_not_null_column(
        "users",
        sa.Column("nickname", sa.Text(), nullable=False),
        backfill_sql="split_part(email, '@', 1)",
    )


def downgrade() -> None:
    """Nothing to undo in a lint example."""
