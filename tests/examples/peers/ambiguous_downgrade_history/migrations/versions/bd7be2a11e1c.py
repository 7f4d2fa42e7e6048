"""Revision ID: bd7be2a11e1c
Revises: 845c0ab60c02
Create Date: 2020-07-01 16:44:05.244310.
"""

# revision identifiers, used by Alembic.
revision = "bd7be2a11e1c"
down_revision = "845c0ab60c02"
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
