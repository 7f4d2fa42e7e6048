"""varchar(255) to varchar(50): longer values are rejected.

Revision ID: mk104_narrowing_type
"""

import sqlalchemy as sa
from alembic import op

revision: str = "mk104_narrowing_type"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    """varchar(255) to varchar(50): longer values are rejected."""
    op.alter_column(  # expect: MK104 changing-column-type
        "users",
        "email",
        existing_type=sa.String(length=255),
        type_=sa.String(length=50),
    )


def downgrade() -> None:
    """Nothing to undo in a lint example."""
