"""Revision ID: 25521e40a00f
Revises: b55e304ba00c, bd7be2a11e1c
Create Date: 2020-07-01 16:44:05.244310.
"""

# revision identifiers, used by Alembic.
revision = "25521e40a00f"
down_revision = ["b55e304ba00c", "bd7be2a11e1c"]
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
