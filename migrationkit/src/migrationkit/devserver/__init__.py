"""A private PostgreSQL server for development and tests, started on first use."""

from migrationkit.devserver.server import EmbeddedPostgres

__all__ = ["EmbeddedPostgres"]
