"""A suppression must give its reason.

Revision ID: mk000_suppression_without_reason
"""

from alembic import op

revision: str = "mk000_suppression_without_reason"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    """A suppression must give its reason."""
    op.drop_table("t")  # migrationkit-lint: allow MK104  # expect: MK000 MK104


def downgrade() -> None:
    """Nothing to undo in a lint example."""
