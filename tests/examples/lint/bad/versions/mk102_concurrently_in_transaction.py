"""CREATE INDEX CONCURRENTLY inside the migration's transaction.

Revision ID: mk102_concurrently_in_transaction
"""

from alembic import op

revision: str = "mk102_concurrently_in_transaction"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    """CREATE INDEX CONCURRENTLY inside the migration's transaction."""
    op.create_index(  # expect: MK102
        "ix_users_email", "users", ["email"], postgresql_concurrently=True
    )


def downgrade() -> None:
    """Nothing to undo in a lint example."""
