"""Type changes PostgreSQL makes in the catalog alone: no rewrite, no scan.

Each gives Alembic the old type (``existing_type``), inside
``batch_alter_table`` too, so the lint knows the change is catalog-only.

Revision ID: catalog_only_type_changes
"""

import sqlalchemy as sa
from alembic import op

revision: str = "catalog_only_type_changes"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    """Widening, varchar/text, same type, numeric and timestamp precision."""
    op.alter_column(
        "users", "first_name", type_=sa.String(200), existing_type=sa.String(100)
    )
    op.alter_column(
        "users", "first_name", type_=sa.Text(), existing_type=sa.String(200)
    )
    op.alter_column("users", "first_name", type_=sa.String(), existing_type=sa.Text())
    op.alter_column(
        "users", "email", type_=sa.String(255), existing_type=sa.String(255)
    )
    op.alter_column(
        "plans",
        "price",
        type_=sa.Numeric(12, 2),
        existing_type=sa.Numeric(10, 2),
    )
    op.alter_column(
        "plans", "price", type_=sa.Numeric(), existing_type=sa.Numeric(12, 2)
    )
    op.alter_column(
        "users",
        "created_at",
        type_=sa.TIMESTAMP(timezone=True),
        existing_type=sa.dialects.postgresql.TIMESTAMP(timezone=True, precision=3),
    )
    with op.batch_alter_table("users") as batch:
        batch.alter_column(
            "username", type_=sa.String(100), existing_type=sa.String(50)
        )


def downgrade() -> None:
    """Nothing to undo in a lint example."""
