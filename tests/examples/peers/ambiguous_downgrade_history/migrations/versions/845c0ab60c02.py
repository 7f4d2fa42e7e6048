"""Revision ID: 845c0ab60c02
Revises: 7f5b06f81aef, 68bf6c25ca140073cfa0
Create Date: 2020-07-01 16:44:05.244310.
"""

# revision identifiers, used by Alembic.
revision = "845c0ab60c02"
down_revision = ("7f5b06f81aef", "68bf6c25ca140073cfa0")
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
