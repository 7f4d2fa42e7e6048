"""index username concurrently

Revision ID: 004
Revises: 003
Create Date: 2026-11-24 01:00:02.000000

Lesson: build a unique index CONCURRENTLY, then attach it as a constraint.

What it shows
    ``username`` becomes unique in two steps: ``CREATE UNIQUE INDEX
    CONCURRENTLY`` builds the index while the application keeps writing, then
    ``ALTER TABLE ... ADD CONSTRAINT uq_users_username UNIQUE USING INDEX``
    turns the finished index into the constraint the model declares
    (``unique=True`` gives ``uq_users_username`` through the naming
    convention in models/base.py).

Why it is safe on a busy 10M-row table
    The concurrent build takes SHARE UPDATE EXCLUSIVE on ``users``: reads and
    writes go on, only other schema changes and VACUUM wait. It scans the table
    twice and waits for transactions older than itself, so it takes longer
    than a plain build, but nobody waits for it. It cannot run inside a
    transaction, so it runs in an autocommit block. If it fails (a duplicate
    username, a cancelled build, a lock timeout while it waits for an old
    snapshot) it leaves an INVALID index; a unique one may already be *ready*,
    refusing duplicate usernames while serving no query. It is dropped at once
    (within ``lock_timeout``); if even that cannot happen in time, the failure
    message says it is there, and the next run drops and rebuilds it.
    Attaching the index as a constraint takes ACCESS EXCLUSIVE for a catalog
    update only: no scan, no build.

What the naive version would do
    Autogenerate writes ``op.create_unique_constraint(...)``: ``ALTER TABLE
    ADD CONSTRAINT ... UNIQUE`` builds the index while holding ACCESS
    EXCLUSIVE on ``users``, so every read and write of the table waits for the
    whole build: tens of seconds at 10M rows.

Downgrade
    Drops the constraint, and with it the index. A constraint's index cannot
    be dropped CONCURRENTLY, so this takes ACCESS EXCLUSIVE on ``users``, but
    dropping an index only removes catalog entries and files: milliseconds.
"""

from collections.abc import Sequence

from alembic import op

from migrationkit.ops import add_unique_constraint_using_index

# revision identifiers, used by Alembic.
revision: str = "004"
down_revision: str | Sequence[str] | None = "003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Build the unique index concurrently and attach it as ``uq_users_username``."""
    add_unique_constraint_using_index("uq_users_username", "users", ["username"])


def downgrade() -> None:
    """Drop the constraint and its index (catalog-only, brief ACCESS EXCLUSIVE)."""
    op.drop_constraint("uq_users_username", "users", type_="unique")
