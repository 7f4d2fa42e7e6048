"""RESET lock_timeout puts back the server's default: wait forever.

Revision ID: mk103_reset
"""

from alembic import op

revision: str = "mk103_reset"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    """RESET lock_timeout puts back the server's default: wait forever."""
    op.execute("RESET lock_timeout")
    op.drop_constraint("uq_users_email", "users", type_="unique")  # expect: MK103


def downgrade() -> None:
    """Nothing to undo in a lint example."""
