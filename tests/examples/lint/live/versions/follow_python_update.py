"""Reads with op.get_bind(), then updates every row: live mode follows it.

Revision ID: follow_python_update
"""

import sqlalchemy as sa
from alembic import op

revision: str = "follow_python_update"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    """Reads with op.get_bind(), then updates every row: live mode follows it."""
    connection = op.get_bind()
    missing = connection.scalar(
        sa.text("SELECT count(*) FROM users WHERE first_name IS NULL")
    )
    if missing:
        connection.execute(sa.text("UPDATE users SET first_name = 'anonymous'"))


def downgrade() -> None:
    """Nothing to undo in a lint example."""
