"""A UNIQUE constraint from an index built concurrently.

Revision ID: safe_unique_using_index
"""

from migrationkit.ops import add_unique_constraint_using_index

revision: str = "safe_unique_using_index"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    """A UNIQUE constraint from an index built concurrently."""
    add_unique_constraint_using_index("uq_users_email", "users", ["email"])


def downgrade() -> None:
    """Nothing to undo in a lint example."""
