"""Second of two revisions: SET NOT NULL on the column the first made NOT NULL.

Revision ID: history_set_not_null_again
"""

from alembic import op

revision: str = "history_set_not_null_again"
down_revision: str | None = "history_makes_column_not_null"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    """Already NOT NULL since the first revision: nothing to scan."""
    op.alter_column("users", "locale", nullable=False)


def downgrade() -> None:
    """Nothing to undo in a lint example."""
