"""backfill login_events ip

Revision ID: 009
Revises: 008
Create Date: 2026-11-24 01:00:07.000000

Lesson: type change, step 2 of 4, *backfill*: convert the old rows in batches,
and let bad data be counted, not fatal.

What it shows
    Rows written before 008 still have ``ip_address_inet`` NULL. They are
    converted with ``backfill_in_batches``: ``ip_address_inet =
    ip_address::inet`` for the rows still pending, a range of pages at a time
    (ctid ranges sized to about 40 ms each; ``-x backfill_strategy=keyset``
    walks the key instead), each batch committed (``-x backfill_batch_size``
    / ``-x backfill_pause`` tune it). Rows written meanwhile land on later
    pages, which the pass does not visit: 008's trigger converts them.

Values that are not addresses
    Years of TEXT hold some garbage ("unknown", "", "10.0.0.300"). One bad
    value must not abort a migration that has converted millions of rows, so
    the pending rows are only those that 008's ``inet_or_null(ip_address)``
    converts: the cast never sees a bad value. On PostgreSQL 16+ that is
    ``pg_input_is_valid()`` with no exception handler; on 15 it costs a
    subtransaction per row looked at (twice per row: once to count the pending
    rows for the progress line, once in its batch). Bad values stay NULL
    in ``ip_address_inet``; afterwards their count and a few examples are
    logged as a warning. The text survives in ``ip_address`` (later
    ``ip_address_text``) until 011 drops it: that is the window to look at
    them. The rows are also *flagged for review* (a row of the migration
    ledger, written in this revision's transaction): every ``alembic upgrade``
    stops before 011 until the flag is acknowledged (see 011).

Locks and their length
    ROW EXCLUSIVE on ``login_events`` and row locks on one batch's rows, for
    one batch. The trigger does not fire: it watches ``ip_address``, and the
    backfill only writes ``ip_address_inet``.

Resumable
    Pending means ``ip_address IS NOT NULL AND ip_address_inet IS NULL`` (and
    convertible), so a rerun after an interruption only does what is left.

What the naive version would do
    The single ``ALTER COLUMN TYPE inet USING ip_address::inet``: a full
    rewrite under ACCESS EXCLUSIVE, aborted by the first bad value.

Downgrade
    Does nothing to the data: the schema at 008 is the same, and 008's
    downgrade drops ``ip_address_inet`` in milliseconds, so clearing it row by
    row first would only cost writes.
"""

import logging
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import context

from migrationkit.ops import flag_for_review
from migrationkit.ops.backfill import (
    backfill_in_batches,
    batch_options_from_x,
    strategy_from_x,
)

# revision identifiers, used by Alembic.
revision: str = "009"
down_revision: str | Sequence[str] | None = "008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

log = logging.getLogger("migrationkit.revisions")

EXAMPLES = 5


def upgrade() -> None:
    """Fill ``ip_address_inet`` for the rows written before 008, in batches."""
    batch_size, pause = batch_options_from_x()
    backfill_in_batches(
        table="login_events",
        set_sql="ip_address_inet = ip_address::inet",
        pending_sql=(
            "ip_address IS NOT NULL AND ip_address_inet IS NULL"
            " AND inet_or_null(ip_address) IS NOT NULL"
        ),
        batch_size=batch_size,
        pause_seconds=pause,
        strategy=strategy_from_x(),
        label="login_events.ip_address_inet",
    )
    if not context.is_offline_mode():
        report_unconvertible(context.get_bind())


def downgrade() -> None:
    """Keep the converted values: 008's schema is the same, its downgrade drops them."""


def report_unconvertible(connection: sa.Connection) -> None:
    """Warn about, and flag for review, the addresses left NULL because their text
    is not an address."""
    count = connection.scalar(
        sa.text(
            "SELECT count(*) FROM login_events"
            " WHERE ip_address IS NOT NULL AND ip_address_inet IS NULL"
        )
    )
    if not count:
        return
    examples = connection.scalars(
        sa.text(
            "SELECT DISTINCT left(ip_address, 40) FROM login_events"
            " WHERE ip_address IS NOT NULL AND ip_address_inet IS NULL"
            " LIMIT :n"
        ),
        {"n": EXAMPLES},
    ).all()
    log.warning(
        "%s login event(s) keep ip_address NULL in the INET column: their text is "
        "not an IP address (for example %s). The text stays in the old column "
        "until revision 011 drops it; inspect it before then with: SELECT "
        "ip_address FROM login_events WHERE ip_address IS NOT NULL AND "
        "ip_address_inet IS NULL",
        count,
        ", ".join(repr(value) for value in examples),
    )
    flag_for_review(
        "login_events.ip_address",
        rows=count,
        what="login event(s) whose ip_address text is not an IP address",
    )
