"""One error family for everything migrationkit refuses to do.

Every error derives from Alembic's ``CommandError``: Alembic's command line already
renders those as ``FAILED: <message>`` with exit code 1 and no traceback, and
``alembic --raiseerr`` re-raises them for debugging. Our own entry points render
them the same way (see ``migrationkit.cli_support``).
"""

from __future__ import annotations

from alembic.util import CommandError


class MigrationKitError(CommandError):
    """Base class: an expected failure with a message written for people."""


class DatabaseUrlError(MigrationKitError):
    """The configured database URL cannot be used (malformed, wrong scheme)."""


class DatabaseConnectionError(MigrationKitError):
    """The server could not be reached, or refused the credentials."""


class EmbeddedServerError(MigrationKitError):
    """The embedded PostgreSQL server could not be prepared or started."""


class MigrationLockError(MigrationKitError):
    """A migration could not take the lock it needs."""


class TransactionPoolerError(MigrationKitError):
    """A migration was pointed at a transaction pooler instead of the server."""
