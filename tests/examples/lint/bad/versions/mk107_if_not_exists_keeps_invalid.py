"""IF NOT EXISTS would keep an INVALID index left by a failed build.

Revision ID: mk107_if_not_exists_keeps_invalid
"""

from alembic import op

revision: str = "mk107_if_not_exists_keeps_invalid"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    """IF NOT EXISTS would keep an INVALID index left by a failed build."""
    with op.get_context().autocommit_block():
        op.create_index(  # expect: MK107
            "ix_users_first_name",
            "users",
            ["first_name"],
            postgresql_concurrently=True,
            if_not_exists=True,
        )


def downgrade() -> None:
    """Nothing to undo in a lint example."""
