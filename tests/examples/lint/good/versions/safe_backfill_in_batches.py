"""A backfill in committed batches.

Revision ID: safe_backfill_in_batches
"""

from migrationkit.ops import backfill_in_batches

revision: str = "safe_backfill_in_batches"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    """A backfill in committed batches."""
    backfill_in_batches(
        table="users", set_sql="is_active = true", pending_sql="is_active IS NULL"
    )


def downgrade() -> None:
    """Nothing to undo in a lint example."""
