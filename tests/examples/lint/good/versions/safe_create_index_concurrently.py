"""migrationkit's concurrent index build.

Revision ID: safe_create_index_concurrently
"""

from migrationkit.ops import create_index_concurrently

revision: str = "safe_create_index_concurrently"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    """migrationkit's concurrent index build."""
    create_index_concurrently("ix_users_first_name", "users", ["first_name"])


def downgrade() -> None:
    """Nothing to undo in a lint example."""
