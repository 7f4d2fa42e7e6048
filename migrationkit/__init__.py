"""Reusable machinery for safe Alembic migrations on PostgreSQL.

Everything here works on any Alembic project given its ``alembic.config.Config``;
the project's own files (``alembic/env.py``, ``verify_migration.py``) stay thin and
call into this package.
"""
