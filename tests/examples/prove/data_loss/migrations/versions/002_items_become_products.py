"""items become products

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
    op.create_table(
        "products",
        sa.Column("id", sa.Integer(), sa.Identity(), primary_key=True),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("price_cents", sa.Integer(), nullable=True),
    )
    # The bug: a comparison with NULL is never true, so unpriced items are lost.
    op.execute(
        "INSERT INTO products (name, price_cents)"
        " SELECT name, price_cents FROM items WHERE price_cents >= 0"
    )
    op.drop_table("items")


def downgrade() -> None:
    op.create_table(
        "items",
        sa.Column("id", sa.Integer(), sa.Identity(), primary_key=True),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("price_cents", sa.Integer(), nullable=True),
        sa.Column("quantity", sa.Integer(), server_default="0", nullable=False),
    )
    op.execute(
        "INSERT INTO items (name, price_cents) SELECT name, price_cents FROM products"
    )
    op.drop_table("products")
