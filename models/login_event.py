"""Sign-ins of users: the table revisions 006 and 008-011 build."""

import uuid
from datetime import datetime
from ipaddress import IPv4Address, IPv4Interface, IPv6Address, IPv6Interface

from sqlalchemy import BigInteger, DateTime, ForeignKey, Identity
from sqlalchemy.dialects.postgresql import INET, UUID
from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.sql import func

from models.base import Base

IpAddress = IPv4Address | IPv6Address | IPv4Interface | IPv6Interface


class LoginEvent(Base):
    """One sign-in: who, when, and from which address."""

    __tablename__ = "login_events"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    user_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True),
        ForeignKey("users.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    )
    occurred_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), nullable=False
    )
    # psycopg reads inet as ipaddress objects: an address, or an interface when
    # the value carries a netmask. Strings such as "10.0.0.1" are accepted on write.
    ip_address: Mapped[IpAddress | None] = mapped_column(INET)

    def __repr__(self) -> str:
        return (
            f"<LoginEvent(id={self.id}, user_id={self.user_id}, "
            f"occurred_at={self.occurred_at})>"
        )
