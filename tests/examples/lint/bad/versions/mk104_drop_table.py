"""DROP TABLE without an acknowledgement.

Revision ID: mk104_drop_table
"""

from alembic import op

revision: str = "mk104_drop_table"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    """DROP TABLE without an acknowledgement."""
    op.drop_table("login_events")  # expect: MK104


def downgrade() -> None:
    """Nothing to undo in a lint example."""
