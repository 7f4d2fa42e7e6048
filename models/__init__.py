"""Model exports: importing this package registers every table on Base.metadata."""

from models.base import Base
from models.user import User

__all__ = ["Base", "User"]
