"""A plain CREATE INDEX on an existing table blocks writes.

Revision ID: squawk_plain_index
"""

from alembic import op

revision: str = "squawk_plain_index"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    """A plain CREATE INDEX on an existing table blocks writes."""
    op.create_index(  # expect: require-concurrent-index-creation
        "ix_users_first_name", "users", ["first_name"]
    )


def downgrade() -> None:
    """Nothing to undo in a lint example."""
