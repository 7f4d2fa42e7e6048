"""create login events

Revision ID: 006
Revises: 005
Create Date: 2026-11-24 01:00:04.000000

Lesson: a new table that references a busy one; its foreign key and index
added with the safe operations even though the new table starts empty.

What it shows
    ``login_events`` records every sign-in: who (``user_id``), when, and from
    which address (``ip_address``, plain TEXT for now; 008-011 turn it into
    INET). Deleting a user deletes their events (``ON DELETE CASCADE``).

Why it is safe on a busy 10M-row ``users`` table
    ``CREATE TABLE`` touches nothing that exists. The foreign key is the part
    that reaches into ``users``: adding it takes SHARE ROW EXCLUSIVE on *both*
    tables, which blocks every INSERT, UPDATE and DELETE on ``users`` while it
    is held. Here it is added ``NOT VALID`` (catalog only, milliseconds, and
    ``lock_timeout`` bounds the wait for it) and then validated on its own,
    under SHARE UPDATE EXCLUSIVE on ``login_events`` and ROW SHARE on
    ``users``, which let writes go on. With an empty table validation is
    instant either way; the pattern matters the day the referencing table is
    already full, and a history that always uses it cannot forget it then.
    The index on ``user_id`` (the cascade and "events of this user" both need
    it) is built CONCURRENTLY, under SHARE UPDATE EXCLUSIVE on
    ``login_events`` only.

What the naive version would do
    Autogenerate puts the foreign key and the index inside ``create_table``:
    harmless for an empty table, but copied onto a filled one (``ALTER TABLE
    ... ADD FOREIGN KEY``, ``CREATE INDEX``) they check every row while
    ``users`` and the referencing table refuse writes.

Downgrade
    Drops the table, and with it its index and foreign key. That takes ACCESS
    EXCLUSIVE on ``login_events`` and, because the foreign key's triggers live
    on ``users``, ACCESS EXCLUSIVE on ``users`` too (checked with ``pg_locks``
    on PostgreSQL 18): nothing is scanned, so it lasts milliseconds, but it
    blocks even reads of ``users`` while held, and ``lock_timeout`` is what
    keeps its wait from queueing them. The events are lost: the schema before
    this revision has nowhere to keep them.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from migrationkit.ops import add_foreign_key_not_valid, create_index_concurrently

# revision identifiers, used by Alembic.
revision: str = "006"
down_revision: str | Sequence[str] | None = "005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Create ``login_events``, then its foreign key and index the safe way."""
    op.create_table(
        "login_events",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("user_id", sa.UUID(), nullable=False),
        sa.Column(
            "occurred_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("ip_address", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_login_events")),
        # The foreign key below commits part-way; if its validation then times
        # out on a lock, the guarded retry reruns this revision from the top.
        if_not_exists=True,
    )
    add_foreign_key_not_valid(
        "fk_login_events_user_id_users",
        "login_events",
        "users",
        ["user_id"],
        ["id"],
        ondelete="CASCADE",
    )
    create_index_concurrently("ix_login_events_user_id", "login_events", ["user_id"])


def downgrade() -> None:
    """Drop ``login_events`` with its index and foreign key."""
    op.drop_table("login_events")
