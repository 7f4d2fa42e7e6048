"""backfill usernames

Revision ID: 003
Revises: 002
Create Date: 2026-11-24 01:00:01.000000

Lesson: a data migration on a big table runs in small committed batches.

What it shows
    Every existing user gets a username derived from the email's local part,
    lower-cased and cut to 50 characters (``Ann.Lee@example.com`` -> ``ann.lee``).
    Local parts repeat across domains, and 004 will make the column unique, so
    duplicates are resolved here, deterministically: among the users sharing a
    local part, the one with the smallest id keeps it plain and every other one
    gets a suffix from its own id (``ann`` and ``ann_3f2a9c1b``).

How it stays lean at 10M rows
    1. One read of ``users`` (ACCESS SHARE, nobody waits) lists the local parts
       that occur more than once, with their winner, into a small temporary
       table indexed by local part. Most local parts are unique, so it is small.
    2. ``backfill_in_batches`` sets ``username`` a range of pages at a time
       (ctid ranges, sized to about 40 ms; ``-x backfill_strategy=keyset``
       walks the key instead), each batch committed on its own. A row's
       value needs only its own email and id plus one index probe into the
       temporary table, so a batch costs about what the same rows cost
       inside one whole-table UPDATE.
    3. One more read checks that the result is unique. Users created or renamed
       while the backfill ran can collide with it; only those rows are renamed,
       with a longer id suffix, before 004 has to fail on them.

Locks and their length
    ROW EXCLUSIVE on ``users`` (what every INSERT/UPDATE takes: reads and
    writes go on) and row locks on one batch's rows, for one batch. A
    concurrent update of one of those rows waits for a single batch at most.

Resumable
    The pending rows are ``username IS NULL``: after an interruption (a crash,
    a deploy, Ctrl-C) every finished batch is kept and a rerun of
    ``alembic upgrade`` only touches the rest. The temporary table dies with the
    session and is rebuilt by the rerun from the same data, so the same users
    win. ``-x backfill_batch_size=N`` and ``-x backfill_pause=SECONDS`` tune
    the batches (smaller and slower leaves more room for the application).

What the naive version would do
    One ``UPDATE users SET username = ...`` in the migration's transaction:
    every one of the 10M rows stays locked until the last is written, so any
    application update of any user waits for the whole statement; the
    transaction holds back VACUUM, replicas lag behind it, and a failure at 99%
    throws all of it away.

Downgrade
    Deliberately does nothing to the data. The schema at 002 and at 003 is the
    same (a NULLable ``username``), so there is no schema to restore, and
    clearing 10M values would rewrite every row for nothing: going further down,
    002's downgrade drops the column in milliseconds. A later ``upgrade`` finds
    nothing pending and only fills the users created in between.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import context, op

from migrationkit.errors import MigrationKitError
from migrationkit.ops.backfill import (
    backfill_in_batches,
    batch_options_from_x,
    strategy_from_x,
)

# revision identifiers, used by Alembic.
revision: str = "003"
down_revision: str | Sequence[str] | None = "002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

USERNAME_LENGTH = 50
DUPLICATES = "username_backfill_duplicates"

# The local part of the email, as the username it becomes. Column names are
# unqualified: the expression runs inside ``UPDATE users`` and its subqueries.
LOCAL_PART = (
    "coalesce(nullif(left(lower(split_part(email, '@', 1)), "
    f"{USERNAME_LENGTH}), ''), 'user')"
)


def suffixed(name_sql: str, *, hex_digits: int) -> str:
    """``<name cut to fit>_<first hex digits of the id>``: at most 50 characters."""
    keep = USERNAME_LENGTH - 1 - hex_digits
    return (
        f"left({name_sql}, {keep}) || '_' || "
        f"left(replace(id::text, '-', ''), {hex_digits})"
    )


# Per row: one probe of the duplicates table's index, no scan of users.
USERNAME_FROM_EMAIL = (
    "(SELECT CASE WHEN dup.winner_id IS NULL OR dup.winner_id = id"
    " THEN mine.local_part"
    f" ELSE {suffixed('mine.local_part', hex_digits=8)} END"
    f" FROM (SELECT {LOCAL_PART} AS local_part) AS mine"
    f" LEFT JOIN {DUPLICATES} AS dup ON dup.local_part = mine.local_part)"
)

# Longer suffixes for the rare collisions the check finds; the last is the whole id.
REPAIR_SUFFIX_DIGITS = (12, 32)


def upgrade() -> None:
    """Fill ``users.username`` from the emails, unique, in committed batches."""
    batch_size, pause = batch_options_from_x()
    list_duplicated_local_parts()
    backfill_in_batches(
        table="users",
        set_sql=f"username = {USERNAME_FROM_EMAIL}",
        pending_sql="username IS NULL",
        batch_size=batch_size,
        pause_seconds=pause,
        strategy=strategy_from_x(),
        label="users.username from email",
    )
    if not context.is_offline_mode():
        repair_collisions(op.get_bind())
    op.execute(f"DROP TABLE IF EXISTS {DUPLICATES}")


def downgrade() -> None:
    """Keep the usernames: 002's schema is the same, and its downgrade drops them."""


def list_duplicated_local_parts() -> None:
    """Record each local part used by several users, and the user who keeps it.

    The winner is the smallest id (compared as text in the C collation, which
    orders like the UUID itself; PostgreSQL has no ``min(uuid)``).
    """
    op.execute(f"DROP TABLE IF EXISTS {DUPLICATES}")
    op.execute(
        f"CREATE TEMPORARY TABLE {DUPLICATES} AS"
        f" SELECT {LOCAL_PART} AS local_part,"
        ' min(id::text COLLATE "C")::uuid AS winner_id'
        " FROM users GROUP BY 1 HAVING count(*) > 1"
    )
    op.execute(f"CREATE UNIQUE INDEX ON {DUPLICATES} (local_part)")
    op.execute(f"ANALYZE {DUPLICATES}")


def repair_collisions(connection: sa.Connection) -> None:
    """Rename all but the first user of any username still shared; usually none.

    Collisions come from users written while the backfill ran (by an application
    that sets usernames, or one created after its batch passed) and, in theory,
    from a suffix equal to another user's plain local part. Only those rows are
    updated, in one short statement each round, inside the revision's
    transaction (their row locks last until it commits, a moment later).
    """
    for digits in REPAIR_SUFFIX_DIGITS:
        renamed = connection.execute(
            sa.text(
                f"UPDATE users SET username = {suffixed('username', hex_digits=digits)}"
                " WHERE id IN ("
                " SELECT id FROM ("
                "  SELECT id, row_number() OVER ("
                '   PARTITION BY username ORDER BY id::text COLLATE "C") AS nth'
                "  FROM users WHERE username IN ("
                "   SELECT username FROM users WHERE username IS NOT NULL"
                "   GROUP BY username HAVING count(*) > 1)"
                " ) AS shared WHERE nth > 1)"
            )
        ).rowcount
        if not renamed:
            return
    shared = connection.scalar(
        sa.text(
            "SELECT count(*) FROM (SELECT 1 FROM users WHERE username IS NOT NULL"
            " GROUP BY username HAVING count(*) > 1) AS shared"
        )
    )
    if not shared:  # the last round, suffixed with whole ids, settled them all
        return
    raise MigrationKitError(
        "Usernames are still not unique after renaming the colliding users twice. "
        "Find them with: SELECT username, count(*) FROM users GROUP BY username "
        "HAVING count(*) > 1; fix them by hand, then run `alembic upgrade head` "
        "again (004 needs unique usernames)."
    )
