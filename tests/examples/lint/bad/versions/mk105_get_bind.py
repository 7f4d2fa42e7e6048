"""Python work with op.get_bind(): nothing to render offline.

Revision ID: mk105_get_bind
"""

import sqlalchemy as sa
from alembic import op

revision: str = "mk105_get_bind"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    """Python work with op.get_bind(): nothing to render offline."""
    count = op.get_bind().scalar(sa.text("SELECT count(*) FROM users"))  # expect: MK105
    op.execute(f"COMMENT ON TABLE users IS '{count} users at migration time'")


def downgrade() -> None:
    """Nothing to undo in a lint example."""
