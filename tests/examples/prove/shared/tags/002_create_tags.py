"""create tags

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
        "tags",
        sa.Column("id", sa.Integer(), sa.Identity(), primary_key=True),
        sa.Column("label", sa.String(50), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("tags")
