"""How every entry point ends: one error path, documented exit statuses.

Shared by the ``migrationkit`` command line and a project's own scripts
(``verify_migration.py``, the service's ``main.py``), so it lives outside
``migrationkit.cli``: a production process imports this, not the whole CLI
with its linter, harness and embedded-server code.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from alembic.util import CommandError
from sqlalchemy.exc import DBAPIError

from migrationkit.database import mask_secrets
from migrationkit.runtime.failures import database_error_message

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_STOPPED = 3
"""``db status`` when the server is not running (what ``pg_ctl status`` uses)."""
EXIT_INTERRUPTED = 130


def report_failures(call: Callable[[], int], *, debug: bool) -> int:
    """The one error path of every entry point: ``FAILED: <paragraph>`` on stderr,
    printed once with every password masked, and a documented exit status (1, or
    130 for Ctrl-C). With ``debug`` the exception propagates, traceback and all."""
    try:
        return call()
    except (CommandError, DBAPIError, KeyboardInterrupt) as exc:
        if debug:
            raise
        if isinstance(exc, DBAPIError):  # outside a migration run: verify, main.py
            message = database_error_message(exc)
        elif isinstance(exc, CommandError):  # MigrationKitError, Alembic's refusals
            message = str(exc)
        else:
            message = "Interrupted (Ctrl-C)."
        print(f"FAILED: {mask_secrets(message)}", file=sys.stderr)
        # MigrationInterrupted is both a CommandError and a KeyboardInterrupt.
        return EXIT_INTERRUPTED if isinstance(exc, KeyboardInterrupt) else EXIT_FAILED


def configure_logging() -> None:
    """Library code logs; a command shows INFO and up on stderr."""
    logging.basicConfig(
        level=logging.INFO, format="%(levelname)s [%(name)s] %(message)s"
    )


@contextmanager
def alembic_chatter_hidden(*, hidden: bool = True) -> Iterator[None]:
    """Drop Alembic's own INFO lines while a command runs (``-v`` keeps them).

    "Context impl PostgresqlImpl.", "Will assume transactional DDL." and
    "Detected added table ..." are the machinery talking: a verify prints them
    for every context it opens, and on a database that was never migrated
    "Detected added table" reads like a finding. A filter on Alembic's own
    loggers does it, because the project's env.py may call
    ``logging.config.fileConfig`` meanwhile, which resets their levels and the
    root handlers but keeps their filters. The filters go when the command ends,
    so a process that runs a command in-process (a test) keeps Alembic's logging.
    """
    if not hidden:
        yield
        return
    # Importing them creates the loggers the filter goes on.
    import alembic.autogenerate  # noqa: PLC0415
    import alembic.runtime.migration  # noqa: PLC0415, F401

    loggers = [
        logger
        for name, logger in list(logging.Logger.manager.loggerDict.items())
        if name.startswith("alembic.") and isinstance(logger, logging.Logger)
    ]
    for logger in loggers:
        logger.addFilter(_warnings_and_up)
    try:
        yield
    finally:
        for logger in loggers:
            logger.removeFilter(_warnings_and_up)


def _warnings_and_up(record: logging.LogRecord) -> bool:
    return record.levelno >= logging.WARNING
