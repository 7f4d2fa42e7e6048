"""item status

Revision ID: 004
Revises: 003
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "004"
down_revision: str | Sequence[str] | None = "003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute(
        "DO $$ BEGIN CREATE TYPE item_status AS ENUM ('draft', 'published');"
        " EXCEPTION WHEN duplicate_object THEN NULL; END $$"
    )
    op.add_column(
        "items",
        sa.Column(
            "status",
            postgresql.ENUM(
                "draft", "published", name="item_status", create_type=False
            ),
            nullable=True,
        ),
    )


def downgrade() -> None:
    op.drop_column("items", "status")  # the enum type stays behind
