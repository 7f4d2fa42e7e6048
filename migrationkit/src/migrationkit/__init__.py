"""Reusable machinery for safe Alembic migrations on PostgreSQL.

Everything here works on any Alembic project given its ``alembic.config.Config``.
A project adopts it with one call in its ``env.py``::

    from migrationkit.runtime import run_migrations

    run_migrations(context, target_metadata=Base.metadata)
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("migrationkit")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0+unknown"
