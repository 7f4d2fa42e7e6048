"""Wired as migrationkit's README says: the template's run functions replaced."""

from alembic import context
from models import Base
from migrationkit.runtime import run_migrations

run_migrations(context, target_metadata=Base.metadata)
