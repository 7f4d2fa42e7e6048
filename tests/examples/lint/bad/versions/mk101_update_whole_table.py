"""An UPDATE of every row in one statement (a naive backfill).

Revision ID: mk101_update_whole_table
"""

from alembic import op

revision: str = "mk101_update_whole_table"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    """An UPDATE of every row in one statement (a naive backfill)."""
    op.execute("UPDATE users SET is_active = true")  # expect: MK101


def downgrade() -> None:
    """Nothing to undo in a lint example."""
