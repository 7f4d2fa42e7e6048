"""item status

Revision ID: 002
Revises: 001
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "002"
down_revision: str | Sequence[str] | None = "001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    status = postgresql.ENUM("draft", "published", name="item_status")
    status.create(op.get_bind())
    op.add_column("items", sa.Column("status", status, nullable=True))


def downgrade() -> None:
    op.drop_column("items", "status")
    postgresql.ENUM(name="item_status").drop(op.get_bind())
