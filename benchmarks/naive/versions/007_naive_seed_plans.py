"""seed plans (naive twin: identical to the real 007)

Revision ID: 007
Revises: 006
Create Date: 2026-11-24 01:00:05.000000

A new reference table seeded with ``op.bulk_insert`` touches no existing table,
so the naive and the safe revision are the same.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "007"
down_revision: str | Sequence[str] | None = "006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PLANS = [
    {"code": "free", "name": "Free", "monthly_price_cents": 0},
    {"code": "pro", "name": "Pro", "monthly_price_cents": 1200},
    {"code": "team", "name": "Team", "monthly_price_cents": 4900},
]


def upgrade() -> None:
    """Create ``plans`` and insert the three plans."""
    plans = op.create_table(
        "plans",
        sa.Column("code", sa.String(length=20), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("monthly_price_cents", sa.Integer(), nullable=False),
        sa.CheckConstraint(
            "monthly_price_cents >= 0",
            name=op.f("ck_plans_monthly_price_cents_non_negative"),
        ),
        sa.PrimaryKeyConstraint("code", name=op.f("pk_plans")),
    )
    op.bulk_insert(plans, PLANS)


def downgrade() -> None:
    """Drop ``plans`` and its seeded rows."""
    op.drop_table("plans")
