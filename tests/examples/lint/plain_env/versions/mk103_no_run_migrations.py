"""Without run_migrations nothing sets lock_timeout.

Revision ID: mk103_no_run_migrations
"""

import sqlalchemy as sa
from alembic import op

revision: str = "mk103_no_run_migrations"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    """Without run_migrations nothing sets lock_timeout."""
    op.add_column("users", sa.Column("nickname", sa.Text()))  # expect: MK103


def downgrade() -> None:
    """Nothing to undo in a lint example."""
