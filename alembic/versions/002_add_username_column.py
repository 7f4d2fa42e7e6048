"""add username column

Revision ID: 002
Revises: 001
Create Date: 2026-11-24 01:00:00.000000

Lesson: adding a NULLable column without a default is instant at any size.

What it shows
    The first step of giving every user a ``username``: the column arrives empty
    and NULLable. Filling it (003), making it unique (004) and making it
    required (005) are separate revisions, each safe on its own.

Why it is safe on a busy 10M-row table
    ``ALTER TABLE users ADD COLUMN username varchar(50)`` only writes the
    catalog: existing rows are not touched, because a missing trailing column
    reads as NULL. It takes an ACCESS EXCLUSIVE lock on ``users``, but for
    milliseconds. The danger is the wait *for* that lock: behind one long
    transaction it would queue, and every query on ``users`` would queue
    behind it. ``lock_timeout`` (set by env.py) makes it give up and retry
    instead of stalling the application.

What the naive version would do
    Autogenerate writes the same statement for a NULLable column, so this one
    is naive-safe. The trap is the variant it also writes without complaint:
    ``nullable=False`` with no default fails on a filled table, and a volatile
    default (``server_default=sa.text("gen_random_uuid()")``) rewrites all
    10M rows under ACCESS EXCLUSIVE.

Downgrade
    Drops the column: again catalog-only and instant (the space is reclaimed
    by later writes and VACUUM, not by a rewrite).

From this revision on, the application should write ``username`` for the
users it creates, so that 005 finds no NULLs left behind.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "002"
down_revision: str | Sequence[str] | None = "001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add ``users.username`` as a NULLable column (catalog-only change)."""
    op.add_column("users", sa.Column("username", sa.String(length=50), nullable=True))


def downgrade() -> None:
    """Drop ``users.username`` (catalog-only change)."""
    op.drop_column("users", "username")
