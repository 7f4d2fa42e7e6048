"""A drop acknowledged with its reason.

Revision ID: acknowledged_drop
"""

from alembic import op

revision: str = "acknowledged_drop"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    """A drop acknowledged with its reason."""
    # migrationkit-lint: allow MK104 -- no release reads first_name since 2024
    op.drop_column("users", "first_name")


def downgrade() -> None:
    """Nothing to undo in a lint example."""
