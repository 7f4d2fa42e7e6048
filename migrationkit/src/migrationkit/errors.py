"""One error family for everything migrationkit refuses to do.

Every error derives from Alembic's ``CommandError``: Alembic's command line already
renders those as ``FAILED: <message>`` (exit status 255) with no traceback, and
``alembic --raiseerr`` re-raises them for debugging. The ``migrationkit`` command
line renders them the same way (exit status 1, ``--debug`` for the traceback; see
``migrationkit.exits.report_failures``). Messages are written for people and
never hold a password.
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


class HandedInConnectionError(MigrationKitError):
    """``config.attributes["connection"]`` holds nothing a database comes from."""


class MigrationFailed(MigrationKitError):  # noqa: N818 - reads as the verdict it is
    """The database refused or broke off a migration run.

    ``sqlstate`` is the server's code (None when the connection was lost without
    one), ``step`` the migration that was running (None before the first), and
    ``database_revision`` the revision the database is at afterwards (None when
    it could not be read).
    """

    def __init__(
        self,
        message: str,
        *,
        sqlstate: str | None = None,
        step: str | None = None,
        database_revision: str | None = None,
    ) -> None:
        super().__init__(message)
        self.sqlstate = sqlstate
        self.step = step
        self.database_revision = database_revision


class MigrationInterrupted(MigrationKitError, KeyboardInterrupt):  # noqa: N818 - as KeyboardInterrupt
    """Ctrl-C (SIGINT) stopped a migration run; the message says where it stands.

    Still a ``KeyboardInterrupt``, so code that handles interrupts keeps doing
    so; and a ``CommandError``, so Alembic's command line prints one ``FAILED:``
    line instead of a traceback.
    """

    def __init__(
        self,
        message: str,
        *,
        step: str | None = None,
        database_revision: str | None = None,
    ) -> None:
        super().__init__(message)
        self.step = step
        self.database_revision = database_revision
