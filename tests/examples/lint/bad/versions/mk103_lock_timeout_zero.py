"""SET lock_timeout = 0 turns off the guard run_migrations set.

Revision ID: mk103_lock_timeout_zero
"""

import sqlalchemy as sa
from alembic import op

revision: str = "mk103_lock_timeout_zero"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    """SET lock_timeout = 0 turns off the guard run_migrations set."""
    op.execute("SET lock_timeout = 0")
    op.add_column("users", sa.Column("nickname", sa.Text()))  # expect: MK103


def downgrade() -> None:
    """Nothing to undo in a lint example."""
