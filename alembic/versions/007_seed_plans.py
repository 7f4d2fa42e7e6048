"""seed plans

Revision ID: 007
Revises: 006
Create Date: 2026-11-24 01:00:05.000000

Lesson: reference data ships with the schema, through ``op.bulk_insert``.

What it shows
    A small ``plans`` table (free, pro, team) that the application reads and
    never writes. The guide suggests ``op.bulk_insert()`` for data migrations:
    the rows are part of the revision, so every database at this revision has
    the same plans, a downgrade takes them away again, and ``--sql`` prints them
    as INSERT statements for review.

Why it is safe
    A new table locks nothing that exists, and three rows are written in the
    same short transaction as the ``CREATE TABLE``: readers either see no table
    or the full table. The CHECK on ``monthly_price_cents`` is named through the
    naming convention (``ck_plans_monthly_price_cents_non_negative``) so it can
    be dropped by name later.

What the naive version would do
    Autogenerate writes the ``create_table`` and nothing else: it never sees
    data. The usual fixes are worse: the application inserting the plans on
    start (every instance racing to do it, on every boot) or a SQL script run
    by hand on each environment (forgotten on one of them, never downgraded).

Where this pattern stops
    ``bulk_insert`` is one multi-row INSERT inside the migration's transaction:
    right for reference data (tens or thousands of rows), wrong for rewriting
    existing rows of a big table; that is ``backfill_in_batches`` (003, 009).

Downgrade
    Drops the table with its rows: they came from this revision and are
    recreated exactly by the next upgrade.
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
    # migrationkit-lint: allow prefer-bigint-over-int -- cents of 3 plans fit an int
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
