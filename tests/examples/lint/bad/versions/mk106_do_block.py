"""A DO block: its statements are a string the linter cannot read.

Revision ID: mk106_do_block
"""

from alembic import op

revision: str = "mk106_do_block"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    """A DO block: its statements are a string the linter cannot read."""
    op.execute(  # expect: MK106
        "DO $$ BEGIN EXECUTE 'ALTER TABLE users ADD COLUMN x int'; END $$"
    )


def downgrade() -> None:
    """Nothing to undo in a lint example."""
