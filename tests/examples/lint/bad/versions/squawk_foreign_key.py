"""A foreign key added without NOT VALID checks every row under lock.

Revision ID: squawk_foreign_key
"""

from alembic import op

revision: str = "squawk_foreign_key"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    """A foreign key added without NOT VALID checks every row under lock."""
    op.create_foreign_key(  # expect: adding-foreign-key-constraint
        "fk_login_events_user_id_users", "login_events", "users", ["user_id"], ["id"]
    )


def downgrade() -> None:
    """Nothing to undo in a lint example."""
