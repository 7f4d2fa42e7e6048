"""How every entry point ends: one error path, documented exit statuses.

Shared by the ``migrationkit`` command line and a project's own scripts
(``verify_migration.py``, the service's ``main.py``), so it lives outside
``migrationkit.cli``: a production process imports this, not the whole CLI
with its linter, harness and embedded-server code.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable

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
