"""SET LOCAL lock_timeout lasts only until the COMMIT of the autocommit block.

Revision ID: mk103_set_local_ended_by_commit
"""

import sqlalchemy as sa
from alembic import op

revision: str = "mk103_set_local_ended_by_commit"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    """SET LOCAL lock_timeout lasts only until the COMMIT of the autocommit block."""
    op.execute("SET LOCAL lock_timeout = '2s'")
    op.add_column("users", sa.Column("nickname", sa.Text()))
    with op.get_context().autocommit_block():
        op.execute("VACUUM users")
    op.drop_column("users", "nickname")  # expect: MK103 MK104


def downgrade() -> None:
    """Nothing to undo in a lint example."""
