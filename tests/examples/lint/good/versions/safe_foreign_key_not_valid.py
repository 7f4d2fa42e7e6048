"""A foreign key NOT VALID, validated in its own transaction.

Revision ID: safe_foreign_key_not_valid
"""

from migrationkit.ops import add_foreign_key_not_valid

revision: str = "safe_foreign_key_not_valid"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    """A foreign key NOT VALID, validated in its own transaction."""
    add_foreign_key_not_valid(
        "fk_login_events_user_id_users", "login_events", "users", ["user_id"], ["id"]
    )


def downgrade() -> None:
    """Nothing to undo in a lint example."""
