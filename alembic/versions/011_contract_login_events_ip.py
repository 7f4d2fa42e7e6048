"""contract login_events ip

Revision ID: 011
Revises: 010
Create Date: 2026-11-24 01:00:09.000000

Lesson: type change, step 4 of 4, *contract*: remove the scaffolding once
nothing needs the old column.

What it shows
    The application has run on the INET ``ip_address`` since 010, and no
    rollback to the TEXT version is planned any more. The reverse trigger, its
    function and ``ip_address_text`` go. The model now declares
    ``ip_address: Mapped[str | None] = mapped_column(INET)`` and ``alembic
    check`` agrees with the database. The text of values that were never
    addresses (left NULL by 009, which logged them) goes with the column: that
    is the point of no return this revision marks.

Acknowledgement
    009 flags those rows for review, and this module declares
    ``destroys_flagged``. While that flag is open in the migration ledger,
    every ``alembic upgrade`` stops before 011 (everything up to 010
    committed) and says how many rows and how to list them, whatever runs or
    machines came between; after a look, ``alembic -x acknowledge=011 upgrade
    head`` (or ``migrationkit acknowledge 011``) lets it go on, and the
    ledger records who acknowledged and when.

Why it is safe on a busy table
    ``DROP COLUMN`` only marks the column dropped in the catalog (the space is
    reused by later writes and VACUUM, not reclaimed by a rewrite);
    ``DROP TRIGGER`` and ``DROP FUNCTION`` are catalog updates too. ACCESS
    EXCLUSIVE on ``login_events`` for milliseconds, bounded by ``lock_timeout``.

What the naive version would do
    Nothing left to compare: the naive path did everything in 008's single
    table rewrite, with no way back for the application.

Downgrade
    Re-expands: adds ``ip_address_text`` again, restores the reverse trigger
    (so rows written from now on are filled), then refills the existing rows
    from the INET values with ``backfill_in_batches`` (``abbrev()``: the
    address as it was typed for hosts, ``10.0.0.0/8`` for networks). Only
    the texts that were not addresses cannot come back. The column, function
    and trigger are committed before the batches start, so the database is
    still marked 011 until the last batch is done: every step is written to
    be run again (``ADD COLUMN IF NOT EXISTS``, ``CREATE OR REPLACE``, a
    backfill that only finds rows still NULL), and rerunning ``alembic
    downgrade 010`` after any interruption finishes the job.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from migrationkit.ops.backfill import backfill_in_batches, batch_options_from_x

# revision identifiers, used by Alembic.
revision: str = "011"
down_revision: str | Sequence[str] | None = "010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SYNC_TO_TEXT = "login_events_ip_address_to_text"

# The rows 009 flags (text that is not an address) die with ip_address_text; this
# query lists them just before this revision, after 010's renames.
destroys_flagged = {
    "login_events.ip_address": (
        "SELECT id, ip_address_text FROM login_events"
        " WHERE ip_address_text IS NOT NULL AND ip_address IS NULL"
    ),
}


def upgrade() -> None:
    """Drop the reverse trigger, its function and ``ip_address_text``."""
    op.execute(f"DROP TRIGGER IF EXISTS {SYNC_TO_TEXT} ON login_events")
    # migrationkit-lint: allow ban-drop-function -- 010's reverse-trigger function,
    # used by nothing but that trigger, dropped just above
    op.execute(f"DROP FUNCTION IF EXISTS {SYNC_TO_TEXT}()")
    # The point of no return this revision marks: the application has read the
    # INET column since 010, and 009 logged the texts that were not addresses.
    # migrationkit-lint: allow MK104 -- contract step: no release reads the text
    op.drop_column("login_events", "ip_address_text")


def downgrade() -> None:
    """Bring ``ip_address_text`` back, kept in step by trigger and refilled."""
    op.add_column(
        "login_events",
        sa.Column("ip_address_text", sa.Text(), nullable=True),
        if_not_exists=True,
    )
    op.execute(
        f"CREATE OR REPLACE FUNCTION {SYNC_TO_TEXT}() RETURNS trigger"
        " LANGUAGE plpgsql AS $$\n"
        "BEGIN\n"
        "    NEW.ip_address_text := abbrev(NEW.ip_address);\n"
        "    RETURN NEW;\n"
        "END\n"
        "$$"
    )
    op.execute(
        f"CREATE OR REPLACE TRIGGER {SYNC_TO_TEXT}"
        " BEFORE INSERT OR UPDATE OF ip_address ON login_events"
        f" FOR EACH ROW EXECUTE FUNCTION {SYNC_TO_TEXT}()"
    )
    batch_size, pause = batch_options_from_x()
    backfill_in_batches(
        table="login_events",
        set_sql="ip_address_text = abbrev(ip_address)",
        pending_sql="ip_address IS NOT NULL AND ip_address_text IS NULL",
        batch_size=batch_size,
        pause_seconds=pause,
        label="login_events.ip_address_text",
    )
