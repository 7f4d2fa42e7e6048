"""SET NOT NULL scans the whole table under ACCESS EXCLUSIVE.

Revision ID: squawk_set_not_null
"""

from alembic import op

revision: str = "squawk_set_not_null"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    """SET NOT NULL scans the whole table under ACCESS EXCLUSIVE."""
    op.alter_column(  # expect: adding-not-nullable-field
        "users", "first_name", nullable=False
    )


def downgrade() -> None:
    """Nothing to undo in a lint example."""
