"""Alembic's environment with migrationkit: lock_timeout set for the session."""

from alembic import context

from migrationkit.runtime import run_migrations

run_migrations(context, target_metadata=None)
