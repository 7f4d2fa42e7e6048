"""Subscription plans: reference data seeded by revision 007."""

from sqlalchemy import CheckConstraint, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base


class Plan(Base):
    """A plan users can subscribe to; rows ship with the migrations."""

    __tablename__ = "plans"

    code: Mapped[str] = mapped_column(String(20), primary_key=True)
    name: Mapped[str] = mapped_column(String(100), nullable=False)
    monthly_price_cents: Mapped[int] = mapped_column(Integer, nullable=False)

    # Named through the convention: ck_plans_monthly_price_cents_non_negative.
    __table_args__ = (
        CheckConstraint(
            "monthly_price_cents >= 0", name="monthly_price_cents_non_negative"
        ),
    )

    def __repr__(self) -> str:
        return f"<Plan(code={self.code!r}, price_cents={self.monthly_price_cents})>"
