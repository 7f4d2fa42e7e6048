"""``python -m migrationkit``: the toolkit's command line.

Each command calls one library function and prints its result; expected failures
(``MigrationKitError``) become ``Error: ...`` and exit code 1, and ``--debug``
shows the traceback instead.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from alembic.config import Config

from migrationkit.database import project_dir
from migrationkit.embedded import EmbeddedPostgres
from migrationkit.errors import MigrationKitError
from migrationkit.settings import Settings

Handler = Callable[[argparse.Namespace, Settings], int]


def _embedded(args: argparse.Namespace, settings: Settings) -> EmbeddedPostgres:
    ini = Path(args.config)
    config = Config(str(ini)) if ini.exists() else None
    return EmbeddedPostgres(settings.pgdata or project_dir(config) / ".pgdata")


def db_start(args: argparse.Namespace, settings: Settings) -> int:
    server = _embedded(args, settings)
    started = server.ensure_running()
    state = "started" if started else "already running"
    print(f"Embedded PostgreSQL {state}: {server.data_dir}")
    return 0


def db_stop(args: argparse.Namespace, settings: Settings) -> int:
    server = _embedded(args, settings)
    if server.stop():
        print(f"Embedded PostgreSQL stopped: {server.data_dir}")
    else:
        print(f"Embedded PostgreSQL was not running: {server.data_dir}")
    return 0


def db_status(args: argparse.Namespace, settings: Settings) -> int:
    status = _embedded(args, settings).status()
    if status.running:
        print(f"running  pid {status.pid}  data {status.data_dir}")
        print(f"socket   {status.socket_dir}")
        return 0
    print(f"stopped  data {status.data_dir}")
    return 3  # the exit code pg_ctl status uses for "not running"


def db_url(args: argparse.Namespace, settings: Settings) -> int:
    server = _embedded(args, settings)
    server.ensure_running()
    print(server.url(args.database).render_as_string(hide_password=True))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m migrationkit",
        description="Tools for safe Alembic migrations on PostgreSQL.",
    )
    parser.add_argument(
        "-c",
        "--config",
        default="alembic.ini",
        help="the project's alembic.ini (default: %(default)s)",
    )
    parser.add_argument(
        "--debug", action="store_true", help="show tracebacks for expected errors"
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    db = commands.add_parser(
        "db",
        help="manage the embedded PostgreSQL server",
        description="Manage the embedded PostgreSQL server kept in .pgdata/.",
    )
    db_commands = db.add_subparsers(dest="db_command", required=True, metavar="ACTION")
    actions: list[tuple[str, Handler, str]] = [
        ("start", db_start, "start the server (it is also started on first use)"),
        ("stop", db_stop, "stop the server; its data stays in .pgdata/"),
        ("status", db_status, "say whether the server runs (exit 3 when stopped)"),
        ("url", db_url, "print the URL of a database on the server (no secrets)"),
    ]
    for name, handler, help_text in actions:
        action = db_commands.add_parser(name, help=help_text, description=help_text)
        action.set_defaults(handler=handler)
        if name == "url":
            action.add_argument(
                "--database",
                default="development",
                help="database name (default: %(default)s)",
            )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        settings = Settings.from_environ()
        handler: Handler = args.handler
        return handler(args, settings)
    except MigrationKitError as exc:
        if args.debug:
            raise
        print(f"Error: {exc}", file=sys.stderr)
        return 1
