"""Revision ID: 10483a8dd3c8
Revises: first
Create Date: 2020-07-01 16:44:05.244310.
"""

# revision identifiers, used by Alembic.
revision = "10483a8dd3c8"
down_revision = "first"
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
