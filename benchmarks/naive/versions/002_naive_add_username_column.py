"""add username column (naive twin: the same statement)

Revision ID: 002
Revises: 001
Create Date: 2026-11-24 01:00:00.000000

Autogenerate writes exactly what the real 002 does: adding a NULLable column
without a default only touches the catalog, so there is nothing to make safer.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "002"
down_revision: str | Sequence[str] | None = "001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    op.add_column("users", sa.Column("username", sa.String(length=50), nullable=True))


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_column("users", "username")
