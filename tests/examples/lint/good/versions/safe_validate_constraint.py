"""VALIDATE CONSTRAINT in a transaction of its own.

Revision ID: safe_validate_constraint
"""

from migrationkit.ops import validate_constraint

revision: str = "safe_validate_constraint"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    """VALIDATE CONSTRAINT in a transaction of its own."""
    validate_constraint("ck_users_email_lower", "users")


def downgrade() -> None:
    """Nothing to undo in a lint example."""
