"""NOT NULL through a validated CHECK.

Revision ID: safe_add_not_null
"""

from migrationkit.ops import add_not_null

revision: str = "safe_add_not_null"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    """NOT NULL through a validated CHECK."""
    add_not_null("users", "first_name")


def downgrade() -> None:
    """Nothing to undo in a lint example."""
