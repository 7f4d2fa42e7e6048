"""create login events (naive twin: inline foreign key, plain index)

Revision ID: 006
Revises: 005
Create Date: 2026-11-24 01:00:04.000000

What autogenerate writes for a new model that references ``users``: the foreign
key inside ``CREATE TABLE`` and a plain ``CREATE INDEX``. On a new, empty table
both are cheap, but creating the foreign key still takes a SHARE ROW EXCLUSIVE
lock on ``users`` (writes wait while it queues), and the same habit on a filled
table is a full build under a write-blocking lock.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "006"
down_revision: str | Sequence[str] | None = "005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
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
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_login_events_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_login_events")),
    )
    op.create_index(
        op.f("ix_login_events_user_id"), "login_events", ["user_id"], unique=False
    )


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_index(op.f("ix_login_events_user_id"), table_name="login_events")
    op.drop_table("login_events")
