"""Model exports: importing this package registers every table on Base.metadata."""

from models.base import Base
from models.login_event import LoginEvent
from models.plan import Plan
from models.user import User

__all__ = ["Base", "LoginEvent", "Plan", "User"]
