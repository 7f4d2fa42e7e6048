"""username not null (naive twin: plain SET NOT NULL)

Revision ID: 005
Revises: 004
Create Date: 2026-11-24 01:00:03.000000

What autogenerate writes for ``nullable=False``: ``ALTER COLUMN username SET NOT
NULL`` scans the whole table to prove there is no NULL, holding ACCESS EXCLUSIVE
(no reads, no writes) for the length of the scan.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "005"
down_revision: str | Sequence[str] | None = "004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    op.alter_column(
        "users", "username", existing_type=sa.String(length=50), nullable=False
    )


def downgrade() -> None:
    """Downgrade schema."""
    op.alter_column(
        "users", "username", existing_type=sa.String(length=50), nullable=True
    )
