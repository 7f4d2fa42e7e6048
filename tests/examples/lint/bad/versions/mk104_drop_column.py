"""DROP COLUMN without an acknowledgement.

Revision ID: mk104_drop_column
"""

from alembic import op

revision: str = "mk104_drop_column"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    """DROP COLUMN without an acknowledgement."""
    op.drop_column("users", "first_name")  # expect: MK104


def downgrade() -> None:
    """Nothing to undo in a lint example."""
