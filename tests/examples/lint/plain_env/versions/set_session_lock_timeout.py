"""A session SET lock_timeout covers the statements after it.

Revision ID: set_session_lock_timeout
"""

import sqlalchemy as sa
from alembic import op

revision: str = "set_session_lock_timeout"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    """A session SET lock_timeout covers the statements after it."""
    op.execute("SET lock_timeout = '2s'")
    op.add_column("users", sa.Column("nickname", sa.Text()))


def downgrade() -> None:
    """Nothing to undo in a lint example."""
