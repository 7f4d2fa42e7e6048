"""cap quantities

Revision ID: 002
Revises: 001
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "002"
down_revision: str | Sequence[str] | None = "001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Reads the database without checking context.is_offline_mode().
    too_many = op.get_bind().scalar(
        sa.text("SELECT count(*) FROM items WHERE quantity > 99")
    )
    if too_many:
        op.execute("UPDATE items SET quantity = 99 WHERE quantity > 99")


def downgrade() -> None:
    pass  # the capped quantities cannot be restored
