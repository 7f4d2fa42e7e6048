"""The models of this example: four downgrades that leave an index, a function, an enum
type and a sequence behind while their upgrades are idempotent.
"""

import sqlalchemy as sa
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class Item(Base):
    __tablename__ = "items"

    id: Mapped[int] = mapped_column(sa.Identity(), primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(100), index=True)
    quantity: Mapped[int] = mapped_column(server_default="0")
    status: Mapped[str | None] = mapped_column(
        sa.Enum("draft", "published", name="item_status")
    )


item_numbers = sa.Sequence("item_numbers", metadata=Base.metadata)
