"""The models of this example: the model's enum has 'archived', the migration created
two values only.
"""

import sqlalchemy as sa
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class Item(Base):
    __tablename__ = "items"

    id: Mapped[int] = mapped_column(sa.Identity(), primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(100))
    quantity: Mapped[int] = mapped_column(server_default="0")
    status: Mapped[str | None] = mapped_column(
        sa.Enum("draft", "published", "archived", name="item_status")
    )
