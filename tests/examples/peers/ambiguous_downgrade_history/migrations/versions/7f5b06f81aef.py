"""Revision ID: 7f5b06f81aef
Revises: effc355fddff
Create Date: 2020-07-01 16:44:05.244310.
"""

# revision identifiers, used by Alembic.
revision = "7f5b06f81aef"
down_revision = "effc355fddff"
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
