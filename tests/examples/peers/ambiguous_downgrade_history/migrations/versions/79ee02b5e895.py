"""Revision ID: 79ee02b5e895
Revises: 10483a8dd3c8, effc355fddff
Create Date: 2020-07-01 16:44:05.244310.
"""

# revision identifiers, used by Alembic.
revision = "79ee02b5e895"
down_revision = ("10483a8dd3c8", "effc355fddff")
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
