"""expand login_events ip

Revision ID: 008
Revises: 007
Create Date: 2026-11-24 01:00:06.000000

Lesson: change a column's type in four steps; step 1 of 4, *expand*.

What it shows
    ``login_events.ip_address`` is TEXT and should be INET (validated on
    write, 7 or 19 bytes instead of up to 40, network operators such as
    ``<<=`` for "addresses in this subnet"). The change is done as expand (008),
    backfill (009), switch (010) and contract (011), so that the application
    running at each moment keeps working and each step can be undone.

    Here: a NULLable ``ip_address_inet INET`` column appears next to the old
    one, and a trigger fills it from ``ip_address`` on every INSERT and on
    every UPDATE of ``ip_address``. The application still writes text and
    knows nothing; from now on every new or changed row is already converted,
    so the backfill (009) only has to deal with the rows that existed before.

    A string that is not an address must not make the application's INSERT
    fail (it was accepted as TEXT until now): the trigger converts through
    ``inet_or_null(text)``, which returns NULL for the rest. On PostgreSQL 16+
    it asks ``pg_input_is_valid(..., 'inet')`` first (no error, no
    subtransaction); on PostgreSQL 15, which lacks that function, it tries the
    cast in an EXCEPTION block: one subtransaction per converted row (see
    ``migrationkit.ops.type_change``). 009 and 010 use the same function.

Why it is safe on a busy table
    ``ADD COLUMN`` without a default is catalog-only (ACCESS EXCLUSIVE for
    milliseconds); ``CREATE FUNCTION`` locks no table; ``CREATE TRIGGER`` takes
    SHARE ROW EXCLUSIVE, also only for the catalog update; all commit together
    in one short transaction, with ``lock_timeout`` bounding the wait for the
    locks. No row is rewritten.

What the naive version would do
    Autogenerate writes ``op.alter_column(..., type_=INET,
    postgresql_using="ip_address::inet")``: ``ALTER COLUMN TYPE`` rewrites the
    whole table and rebuilds its indexes under ACCESS EXCLUSIVE (no reads, no
    writes) for the whole rewrite, and the first invalid string aborts it after
    all that work.

Downgrade
    Drops the trigger, the functions and the new column: catalog-only.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from migrationkit.ops.type_change import (
    create_lenient_cast,
    create_sync_trigger,
    drop_lenient_cast,
    drop_sync_trigger,
)

# revision identifiers, used by Alembic.
revision: str = "008"
down_revision: str | Sequence[str] | None = "007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SYNC_TO_INET = "login_events_ip_address_to_inet"
INET_OR_NULL = "inet_or_null"


def upgrade() -> None:
    """Add ``ip_address_inet`` and keep it in step with ``ip_address`` by trigger."""
    op.add_column(
        "login_events",
        sa.Column("ip_address_inet", postgresql.INET(), nullable=True),
    )
    create_lenient_cast(INET_OR_NULL, to_type="inet")
    create_sync_trigger(
        SYNC_TO_INET,
        table="login_events",
        column="ip_address",
        assignment=f"NEW.ip_address_inet := {INET_OR_NULL}(NEW.ip_address);",
    )


def downgrade() -> None:
    """Drop the trigger, its function, ``inet_or_null`` and ``ip_address_inet``."""
    drop_sync_trigger(SYNC_TO_INET, table="login_events")
    drop_lenient_cast(INET_OR_NULL)
    op.drop_column("login_events", "ip_address_inet")
