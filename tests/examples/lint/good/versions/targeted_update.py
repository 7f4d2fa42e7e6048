"""An UPDATE of rows named by their key is not a backfill.

Revision ID: targeted_update
"""

from alembic import op

revision: str = "targeted_update"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    """An UPDATE of rows named by their key is not a backfill."""
    op.execute("UPDATE plans SET monthly_price_cents = 0 WHERE code = 'free'")
    op.execute("DELETE FROM plans WHERE code IN ('legacy', 'beta')")


def downgrade() -> None:
    """Nothing to undo in a lint example."""
