"""migrationkit's concurrent index drop.

Revision ID: safe_drop_index_concurrently
"""

from migrationkit.ops import drop_index_concurrently

revision: str = "safe_drop_index_concurrently"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    """migrationkit's concurrent index drop."""
    drop_index_concurrently("ix_users_first_name", table_name="users")


def downgrade() -> None:
    """Nothing to undo in a lint example."""
