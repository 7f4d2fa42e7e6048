"""Alembic's environment for this example: migrationkit runs the migrations."""

from alembic import context

# The example's folder is on sys.path (prepend_sys_path), not mypy's path.
from enum_drift_models import Base  # type: ignore[import-not-found]

from migrationkit.runtime import run_migrations

run_migrations(context, target_metadata=Base.metadata)
