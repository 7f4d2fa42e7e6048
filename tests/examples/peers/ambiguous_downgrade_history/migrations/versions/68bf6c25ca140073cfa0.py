"""Revision ID: 68bf6c25ca140073cfa0
Revises: first
Create Date: 2020-07-01 16:44:05.244310.
"""

# revision identifiers, used by Alembic.
revision = "68bf6c25ca140073cfa0"
down_revision = "first"
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
