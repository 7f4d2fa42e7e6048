"""A new table's foreign key locks the referenced table until COMMIT.

Revision ID: mk109_foreign_key_in_create_table
"""

import sqlalchemy as sa
from alembic import op

revision: str = "mk109_foreign_key_in_create_table"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    """A new table's foreign key locks the referenced table until COMMIT."""
    op.create_table(  # expect: MK109
        "sessions",
        sa.Column("id", sa.BigInteger(), sa.Identity(), primary_key=True),
        sa.Column("user_id", sa.UUID(), sa.ForeignKey("users.id"), nullable=False),
    )


def downgrade() -> None:
    """Nothing to undo in a lint example."""
