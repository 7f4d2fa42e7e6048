"""empty message.

Revision ID: 70da13da0332
Revises: bbbbbbbbbbbb, cccccccccccc
Create Date: 2021-05-07 08:56:12.886096

"""

# revision identifiers, used by Alembic.
revision = "70da13da0332"
down_revision = ("bbbbbbbbbbbb", "cccccccccccc")
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
