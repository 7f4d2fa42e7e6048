"""A NULLable column without a default is catalog-only.

Revision ID: add_nullable_column
"""

import sqlalchemy as sa
from alembic import op

revision: str = "add_nullable_column"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    """A NULLable column without a default is catalog-only."""
    op.add_column("users", sa.Column("nickname", sa.Text(), nullable=True))


def downgrade() -> None:
    """Nothing to undo in a lint example."""
