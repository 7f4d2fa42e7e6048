"""login_events ip switch (naive twin: nothing left to do)

Revision ID: 010
Revises: 009
Create Date: 2026-11-24 01:00:08.000000

Empty on purpose: the naive path changed the column's type in place in 008,
with one table rewrite under ACCESS EXCLUSIVE, so there is no switch step.
The revision exists so both histories have the same revision ids.
"""

from collections.abc import Sequence

# revision identifiers, used by Alembic.
revision: str = "010"
down_revision: str | Sequence[str] | None = "009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Nothing: done by 008."""


def downgrade() -> None:
    """Nothing: undone by 008's downgrade."""
