"""A DELETE filtered by a condition, but not batched.

Revision ID: mk101_delete_unbatched
"""

from alembic import op

revision: str = "mk101_delete_unbatched"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    """A DELETE filtered by a condition, but not batched."""
    op.execute(  # expect: MK101
        "DELETE FROM login_events WHERE occurred_at < now() - interval '90 days'"
    )


def downgrade() -> None:
    """Nothing to undo in a lint example."""
