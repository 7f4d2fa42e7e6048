"""Type changes that do rewrite the table, although the old type is known.

Revision ID: rewriting_type_changes
"""

import sqlalchemy as sa
from alembic import op

revision: str = "rewriting_type_changes"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    """integer to bigint, and numeric at a new scale: every row is rewritten."""
    op.alter_column(  # expect: changing-column-type
        "plans", "id", type_=sa.BigInteger(), existing_type=sa.Integer()
    )
    op.alter_column(  # expect: changing-column-type
        "plans", "price", type_=sa.Numeric(12, 3), existing_type=sa.Numeric(10, 2)
    )


def downgrade() -> None:
    """Nothing to undo in a lint example."""
