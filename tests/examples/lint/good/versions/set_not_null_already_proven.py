# Alembic adds registered operations to `op` at run time; mypy cannot see them.
# mypy: disable-error-code="attr-defined"
"""SET NOT NULL that scans nothing: the column is already NOT NULL, or a
validated CHECK (col IS NOT NULL) proves it (PostgreSQL 12+ skips the scan).

Revision ID: set_not_null_already_proven
"""

from alembic import op

import migrationkit.ops  # noqa: F401 - registers the op. forms

revision: str = "set_not_null_already_proven"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    """NOT NULL known from existing_nullable, and from a validated CHECK."""
    op.alter_column("users", "email", nullable=False, existing_nullable=False)
    op.execute(
        "ALTER TABLE users ADD CONSTRAINT ck_users_first_name_not_null "
        "CHECK (first_name IS NOT NULL) NOT VALID"
    )
    op.validate_constraint("ck_users_first_name_not_null", "users")
    op.alter_column("users", "first_name", nullable=False)


def downgrade() -> None:
    """Nothing to undo in a lint example."""
