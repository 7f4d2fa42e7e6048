# Alembic adds registered operations to `op` at run time; mypy cannot see them.
# mypy: disable-error-code="attr-defined"
"""migrationkit's safe operations called as Alembic operations (``op.``).

They must lint exactly as their function form: no squawk finding on the
statements they write (no ``prefer-robust-stmts`` advising the IF NOT EXISTS
that MK107 forbids, no ``ban-drop-constraint`` for add_not_null's own CHECK).

Revision ID: safe_operations_op_form
"""

import sqlalchemy as sa
from alembic import op

import migrationkit.ops  # noqa: F401 - registers the op. forms

revision: str = "safe_operations_op_form"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    """Every safe operation, in its op. form."""
    op.create_index_concurrently("ix_users_first_name", "users", ["first_name"])
    op.drop_index_concurrently("ix_users_old")
    op.add_unique_constraint_using_index("uq_users_email", "users", ["email"])
    op.add_foreign_key_not_valid(
        "fk_login_events_user_id_users", "login_events", "users", ["user_id"], ["id"]
    )
    op.validate_constraint("fk_login_events_user_id_users", "login_events")
    op.add_not_null("users", "first_name")
    op.add_not_null_column(
        "users",
        sa.Column("nickname", sa.Text(), nullable=False),
        backfill_sql="split_part(email, '@', 1)",
    )
    op.backfill_in_batches(
        table="users", set_sql="is_active = true", pending_sql="is_active IS NULL"
    )


def downgrade() -> None:
    """Nothing to undo in a lint example."""
