"""switch login_events ip

Revision ID: 010
Revises: 009
Create Date: 2026-11-24 01:00:08.000000

Lesson: type change, step 3 of 4, *switch*: the INET column takes the name,
in one short transaction, and the old column is kept in step for a rollback.

What it shows
    In a single transaction:

    1. 008's trigger (text -> inet), its function and ``inet_or_null`` are
       dropped;
    2. ``ip_address`` (TEXT) becomes ``ip_address_text``;
    3. ``ip_address_inet`` (INET) becomes ``ip_address``;
    4. a trigger in the other direction fills ``ip_address_text`` from
       ``ip_address`` (``abbrev()``: ``10.0.0.1``, not ``10.0.0.1/32``) on
       every INSERT and every UPDATE of ``ip_address``.

    Readers see either the old layout or the new one, never a mix. This is
    the moment the application that reads and writes INET is deployed; its
    string values (``'10.0.0.1'``) are accepted by the INET column as they are.
    Keeping the old text filled means the step can be undone without losing
    what was written meanwhile: ``alembic downgrade 009`` renames back and the
    previous application finds every address in its TEXT column.

    Why not simply drop the old trigger? Then rows written after the switch
    would have no text, and a rollback of the application would read NULL for
    every new login: the reverse trigger is the price of a safe way back, and
    011 removes it once the new application has proved itself.

Why it is safe on a busy table
    Renames and trigger changes only update the catalog. ``RENAME COLUMN``
    takes ACCESS EXCLUSIVE on ``login_events``, the trigger DDL SHARE ROW
    EXCLUSIVE; the whole transaction lasts milliseconds, and ``lock_timeout``
    makes it give up (and retry) rather than queue every query on the table
    behind a long-running transaction.

What the naive version would do
    There is no naive switch: autogenerate's single ``ALTER COLUMN TYPE`` does
    all four steps at once, under ACCESS EXCLUSIVE for a full table rewrite.

Downgrade
    The same steps in reverse, also in one short transaction: the reverse
    trigger goes, the columns get their old names, 008's trigger and
    ``inet_or_null`` return, written exactly as 008 writes them.
"""

from collections.abc import Sequence

from alembic import op

from migrationkit.ops.type_change import (
    create_lenient_cast,
    create_sync_trigger,
    drop_lenient_cast,
    drop_sync_trigger,
)

# revision identifiers, used by Alembic.
revision: str = "010"
down_revision: str | Sequence[str] | None = "009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SYNC_TO_INET = "login_events_ip_address_to_inet"
SYNC_TO_TEXT = "login_events_ip_address_to_text"
INET_OR_NULL = "inet_or_null"


def upgrade() -> None:
    """Give ``ip_address`` to the INET column; keep the text in step by trigger."""
    # migrationkit-lint: allow ban-drop-function -- 008's trigger function, which
    # nothing but 008's trigger (dropped with it) uses
    drop_sync_trigger(SYNC_TO_INET, table="login_events")
    # migrationkit-lint: allow ban-drop-function -- 008's cast helper, used only by
    # the trigger function just dropped
    drop_lenient_cast(INET_OR_NULL)
    # The renames are the switch itself: the release deployed with this revision
    # reads the INET ``ip_address``; the previous one keeps its text through the
    # reverse trigger.
    # migrationkit-lint: allow renaming-column -- the switch step of expand/contract
    op.alter_column("login_events", "ip_address", new_column_name="ip_address_text")
    # migrationkit-lint: allow renaming-column -- the switch step of expand/contract
    op.alter_column("login_events", "ip_address_inet", new_column_name="ip_address")
    create_sync_trigger(
        SYNC_TO_TEXT,
        table="login_events",
        column="ip_address",
        assignment="NEW.ip_address_text := abbrev(NEW.ip_address);",
    )


def downgrade() -> None:
    """Give ``ip_address`` back to the TEXT column; 008's trigger returns."""
    drop_sync_trigger(SYNC_TO_TEXT, table="login_events")
    op.alter_column("login_events", "ip_address", new_column_name="ip_address_inet")
    op.alter_column("login_events", "ip_address_text", new_column_name="ip_address")
    create_lenient_cast(INET_OR_NULL, to_type="inet")
    create_sync_trigger(
        SYNC_TO_INET,
        table="login_events",
        column="ip_address",
        assignment=f"NEW.ip_address_inet := {INET_OR_NULL}(NEW.ip_address);",
    )
