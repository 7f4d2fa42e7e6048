"""ADD CONSTRAINT UNIQUE builds its index under ACCESS EXCLUSIVE.

Revision ID: squawk_unique_constraint
"""

from alembic import op

revision: str = "squawk_unique_constraint"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    """ADD CONSTRAINT UNIQUE builds its index under ACCESS EXCLUSIVE."""
    op.create_unique_constraint(  # expect: disallowed-unique-constraint
        "uq_users_email", "users", ["email"]
    )


def downgrade() -> None:
    """Nothing to undo in a lint example."""
