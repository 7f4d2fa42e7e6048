"""item price

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
    op.add_column(
        "items",
        sa.Column("price_cents", sa.Integer(), server_default="0", nullable=False),
    )
    op.create_check_constraint("ck_items_price_cents", "items", "price_cents > 0")


def downgrade() -> None:
    op.drop_constraint("ck_items_price_cents", "items", type_="check")
    op.drop_column("items", "price_cents")
