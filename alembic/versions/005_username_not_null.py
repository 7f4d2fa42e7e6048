"""username not null

Revision ID: 005
Revises: 004
Create Date: 2026-11-24 01:00:03.000000

Lesson: make a column NOT NULL without scanning under ACCESS EXCLUSIVE.

What it shows
    The last step of the ``username`` story: every user now has one, so the
    column becomes required and the model says ``nullable=False``. From here
    on the application must set ``username`` on every insert.

Why it is safe on a busy 10M-row table
    ``ALTER COLUMN ... SET NOT NULL`` alone must prove that no row is NULL,
    and it reads all 10M rows while holding ACCESS EXCLUSIVE. The safe
    operation splits that proof off:

    1. ``ADD CONSTRAINT ... CHECK (username IS NOT NULL) NOT VALID``: catalog
       only, brief ACCESS EXCLUSIVE; new writes are checked from now on;
    2. ``VALIDATE CONSTRAINT``: the full scan, under SHARE UPDATE EXCLUSIVE,
       so reads and writes continue while it runs;
    3. ``SET NOT NULL``: PostgreSQL sees the valid CHECK and skips the scan,
       so its ACCESS EXCLUSIVE lasts milliseconds; the helper CHECK is dropped.

    Before that, one plain read (ACCESS SHARE) counts the users still without
    a username, so the failure an application that skipped the field would
    cause is explained in words, with the way out.

What the naive version would do
    Autogenerate writes ``op.alter_column("users", "username",
    nullable=False)``: one statement that blocks every read and write on
    ``users`` for the length of a full-table scan.

Downgrade
    ``DROP NOT NULL`` is catalog-only and instant; the usernames stay.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import context, op

from migrationkit.errors import MigrationKitError
from migrationkit.ops import add_not_null

# revision identifiers, used by Alembic.
revision: str = "005"
down_revision: str | Sequence[str] | None = "004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Require ``users.username`` through a validated CHECK, never a locked scan."""
    missing = (
        None
        if context.is_offline_mode()
        else op.get_bind().scalar(
            sa.text("SELECT count(*) FROM users WHERE username IS NULL")
        )
    )
    if missing:
        raise MigrationKitError(
            f"{missing} user(s) have no username, so users.username cannot become "
            "NOT NULL. They were created after revision 003 backfilled the column, "
            "by an application that does not set username yet. Deploy the "
            "application that writes usernames, then fill the gaps with "
            "`alembic downgrade 002` (keeps existing usernames) followed by "
            "`alembic upgrade head`."
        )
    add_not_null("users", "username")


def downgrade() -> None:
    """Allow NULL usernames again (catalog-only)."""
    op.alter_column(
        "users", "username", existing_type=sa.String(length=50), nullable=True
    )
