"""login_events ip backfill (naive twin: nothing left to do)

Revision ID: 009
Revises: 008
Create Date: 2026-11-24 01:00:07.000000

Empty on purpose: the naive path changed the column's type in place in 008,
with one table rewrite under ACCESS EXCLUSIVE, so there is no backfill step.
The revision exists so both histories have the same revision ids.
"""

from collections.abc import Sequence

# revision identifiers, used by Alembic.
revision: str = "009"
down_revision: str | Sequence[str] | None = "008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Nothing: done by 008."""


def downgrade() -> None:
    """Nothing: undone by 008's downgrade."""
