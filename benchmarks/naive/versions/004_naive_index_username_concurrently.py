"""unique username (naive twin: plain ADD CONSTRAINT ... UNIQUE)

Revision ID: 004
Revises: 003
Create Date: 2026-11-24 01:00:02.000000

What autogenerate writes for ``unique=True``: ``ALTER TABLE users ADD CONSTRAINT
uq_users_username UNIQUE (username)`` builds the index while holding a lock that
blocks every INSERT, UPDATE and DELETE on ``users`` for the whole build.
"""

from collections.abc import Sequence

from alembic import op

# revision identifiers, used by Alembic.
revision: str = "004"
down_revision: str | Sequence[str] | None = "003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    op.create_unique_constraint(op.f("uq_users_username"), "users", ["username"])


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_constraint(op.f("uq_users_username"), "users", type_="unique")
