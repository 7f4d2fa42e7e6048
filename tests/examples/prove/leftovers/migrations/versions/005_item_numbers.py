"""item numbers

Revision ID: 005
Revises: 004
"""

from collections.abc import Sequence

from alembic import op

revision: str = "005"
down_revision: str | Sequence[str] | None = "004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute("CREATE SEQUENCE IF NOT EXISTS item_numbers")


def downgrade() -> None:
    pass  # forgets the sequence; IF NOT EXISTS hides it
