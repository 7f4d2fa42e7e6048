"""backfill usernames (naive twin: one whole-table UPDATE)

Revision ID: 003
Revises: 002
Create Date: 2026-11-24 01:00:01.000000

The obvious hand-written data step: one ``UPDATE users SET username = ...`` in
the migration's transaction. It computes the same usernames with the same
expression as the real 003 (a test keeps the two in step), so the difference
in run time is the price of batching alone. Every row stays locked until the
statement and its transaction end, so any application update of any user waits
for the whole table.
"""

from collections.abc import Sequence

from alembic import op

# revision identifiers, used by Alembic.
revision: str = "003"
down_revision: str | Sequence[str] | None = "002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

USERNAME_LENGTH = 50
DUPLICATES = "username_backfill_duplicates"

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


USERNAME_FROM_EMAIL = (
    "(SELECT CASE WHEN dup.winner_id IS NULL OR dup.winner_id = id"
    " THEN mine.local_part"
    f" ELSE {suffixed('mine.local_part', hex_digits=8)} END"
    f" FROM (SELECT {LOCAL_PART} AS local_part) AS mine"
    f" LEFT JOIN {DUPLICATES} AS dup ON dup.local_part = mine.local_part)"
)


def upgrade() -> None:
    """Fill every username in one statement."""
    op.execute(f"DROP TABLE IF EXISTS {DUPLICATES}")
    op.execute(
        f"CREATE TEMPORARY TABLE {DUPLICATES} AS"
        f" SELECT {LOCAL_PART} AS local_part,"
        ' min(id::text COLLATE "C")::uuid AS winner_id'
        " FROM users GROUP BY 1 HAVING count(*) > 1"
    )
    op.execute(f"CREATE UNIQUE INDEX ON {DUPLICATES} (local_part)")
    op.execute(f"ANALYZE {DUPLICATES}")
    op.execute(f"UPDATE users SET username = {USERNAME_FROM_EMAIL}")
    op.execute(f"DROP TABLE IF EXISTS {DUPLICATES}")


def downgrade() -> None:
    """Keep the usernames (002's downgrade drops the column)."""
