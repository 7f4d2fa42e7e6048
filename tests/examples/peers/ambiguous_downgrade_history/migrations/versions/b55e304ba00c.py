"""Revision ID: b55e304ba00c
Revises: 7f5b06f81aef, 79ee02b5e895
Create Date: 2020-07-01 16:44:05.244310.
"""

# revision identifiers, used by Alembic.
revision = "b55e304ba00c"
down_revision = ("7f5b06f81aef", "79ee02b5e895")
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
