"""Uses the rows its own INSERT returns: cannot be followed without writing.

Revision ID: needs_own_write_results
"""

import sqlalchemy as sa
from alembic import op

revision: str = "needs_own_write_results"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    """Uses the rows its own INSERT returns: cannot be followed without writing."""
    connection = op.get_bind()
    new_id = connection.execute(
        sa.text("INSERT INTO users (email) VALUES ('x@example.com') RETURNING id")
    ).scalar_one()
    op.execute(f"COMMENT ON TABLE users IS 'first: {new_id}'")


def downgrade() -> None:
    """Nothing to undo in a lint example."""
