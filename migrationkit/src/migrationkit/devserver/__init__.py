"""A private PostgreSQL server for development and tests, started on first use."""

from migrationkit.devserver.server import (
    DestroyReport,
    EmbeddedPostgres,
    ServerStatus,
    embedded_server_installed,
)
from migrationkit.settings import DEFAULT_DATABASE

__all__ = [
    "DEFAULT_DATABASE",
    "DestroyReport",
    "EmbeddedPostgres",
    "ServerStatus",
    "embedded_server_installed",
]
