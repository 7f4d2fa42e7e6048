"""Testing helpers: a fresh database per test, on the embedded server or any server."""

from migrationkit.testing.server import TestServer

__all__ = ["TestServer"]
