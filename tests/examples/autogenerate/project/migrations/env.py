"""Alembic's environment with migrationkit: autogenerate writes the safe forms."""

from alembic import context

# The project's folder is on sys.path (prepend_sys_path), not mypy's path.
from app_models import Base  # type: ignore[import-not-found]

from migrationkit.runtime import run_migrations

run_migrations(context, target_metadata=Base.metadata)
