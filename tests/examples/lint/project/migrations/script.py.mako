"""${message}

Revision ID: ${up_revision}
Revises: ${down_revision | comma,n}
Create Date: ${create_date}

Lesson: (one line: what this revision teaches, or what it changes and why)

What it does
    (The change, in a sentence or two.)

Locks and their length
    (Which lock each statement takes, on which table, and for how long on a
    table of production size.)

What the naive version would do
    (What autogenerate or a one-statement version would lock or rewrite; "the
    same" when the naive version is already safe.)

Downgrade
    (What ``downgrade()`` undoes, and what it cannot bring back.)
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
${imports if imports else ""}

# revision identifiers, used by Alembic.
revision: str = ${repr(up_revision)}
down_revision: str | Sequence[str] | None = ${repr(down_revision)}
branch_labels: str | Sequence[str] | None = ${repr(branch_labels)}
depends_on: str | Sequence[str] | None = ${repr(depends_on)}


def upgrade() -> None:
    """Upgrade schema."""
    ${upgrades if upgrades else "pass"}


def downgrade() -> None:
    """Downgrade schema."""
    ${downgrades if downgrades else "pass"}
