"""login_events ip to inet (naive twin: ALTER COLUMN TYPE in place)

Revision ID: 008
Revises: 007
Create Date: 2026-11-24 01:00:06.000000

What autogenerate writes for ``ip_address: Mapped[...] = mapped_column(INET)``:
one ``ALTER COLUMN ip_address TYPE inet USING ...``, which rewrites the whole
table and rebuilds its indexes under ACCESS EXCLUSIVE: no reads, no writes on
``login_events`` until it ends. The naive path does the real 008-011 (expand,
backfill, switch, contract) in this single statement.

Strings that are not addresses become NULL, as in the real 009, instead of
aborting the rewrite (``pg_input_is_valid``, PostgreSQL 16+), so both histories
end with the same data.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

# revision identifiers, used by Alembic.
revision: str = "008"
down_revision: str | Sequence[str] | None = "007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    op.alter_column(
        "login_events",
        "ip_address",
        existing_type=sa.Text(),
        type_=postgresql.INET(),
        existing_nullable=True,
        postgresql_using=(
            "CASE WHEN pg_input_is_valid(ip_address, 'inet') THEN ip_address::inet END"
        ),
    )


def downgrade() -> None:
    """Downgrade schema."""
    op.alter_column(
        "login_events",
        "ip_address",
        existing_type=postgresql.INET(),
        type_=sa.Text(),
        existing_nullable=True,
        postgresql_using="host(ip_address)",
    )
