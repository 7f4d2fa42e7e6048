"""A private PostgreSQL server for development and tests, started on first use."""

from migrationkit.devserver.server import (
    DEFAULT_DATABASE,
    DestroyReport,
    EmbeddedPostgres,
    ServerStatus,
    embedded_server_installed,
)

__all__ = [
    "DEFAULT_DATABASE",
    "DestroyReport",
    "EmbeddedPostgres",
    "ServerStatus",
    "embedded_server_installed",
]
