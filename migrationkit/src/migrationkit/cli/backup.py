"""``migrationkit backup`` and ``migrationkit restore``: parse, call, print."""

from __future__ import annotations

import argparse
from pathlib import Path

from alembic.config import Config

from migrationkit import command
from migrationkit.backup import DumpProgress
from migrationkit.exits import EXIT_OK
from migrationkit.progress import Progress
from migrationkit.settings import Settings

BACKUP_DESCRIPTION = """\
Back up the project's database with PostgreSQL's own pg_dump (custom format,
-Fc), of the server's major version: the embedded server's tools, Debian's
/usr/lib/postgresql/<major>/bin, or the PATH. The file is created with mode
0600 and never replaces an existing one; it is read back with
`pg_restore --list` before the command succeeds. Each table is shown as it is
written. `alembic -x backup=1 upgrade head` takes the same backup before
migrating (into backups/ beside alembic.ini; -x backup_dir=PATH moves it).
"""

RESTORE_DESCRIPTION = """\
Restore a backup made by `migrationkit backup` into the project's database
with pg_restore of the server's major version, in one transaction (all or
nothing). A database that already holds tables is refused unless --clean,
which drops the backup's objects there first.
"""

EPILOG = """\
The database is the one every command uses (DATABASE_URL_DIRECT, DATABASE_URL,
sqlalchemy.url, else the embedded server). The password reaches pg_dump and
pg_restore only in their environment, never on a command line; it is never
printed. exit status: 0 done, 1 failure (one `FAILED:` paragraph), 2 bad
arguments.
"""


def _config(args: argparse.Namespace) -> Config | None:
    path = Path(args.config)
    return command.load_config(path) if path.is_file() else None


def _backup(args: argparse.Namespace, settings: Settings) -> int:
    shown: list[Progress] = []

    def progress(update: DumpProgress) -> None:
        if not shown:
            shown.append(
                Progress(label="pg_dump", total=update.tables_total, unit="tables")
            )
        shown[
            0
        ].label = f"pg_dump {update.table} ({update.bytes_written:,} bytes written)"
        shown[0].update(update.tables_done)

    result = command.backup(
        _config(args), settings=settings, output=args.output, progress=progress
    )
    print(f"Backed up {result.database} to {result.path}")
    print(
        f"{result.size:,} bytes, {result.tables} tables, {result.entries} archive "
        f"entries read back by pg_restore --list (PostgreSQL {result.major}), "
        f"{result.seconds:.1f} s"
    )
    return EXIT_OK


def _restore(args: argparse.Namespace, settings: Settings) -> int:
    result = command.restore(
        _config(args), settings=settings, path=args.file, clean=args.clean
    )
    cleaned = " (its objects dropped first: --clean)" if result.cleaned else ""
    print(f"Restored {result.path} into {result.database}{cleaned}")
    print(f"{result.entries} archive entries, {result.seconds:.1f} s")
    return EXIT_OK


def add_backup(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    backup = commands.add_parser(
        "backup",
        help="back up the database with pg_dump -Fc (file mode 0600)",
        description=BACKUP_DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    backup.add_argument(
        "--output",
        "-o",
        type=Path,
        default=None,
        metavar="FILE",
        help="where to write it (default: <database>-<UTC time>.dump here)",
    )
    backup.set_defaults(handler=_backup)
    restore = commands.add_parser(
        "restore",
        help="restore a backup into the database (refuses a non-empty one)",
        description=RESTORE_DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    restore.add_argument("file", type=Path, metavar="FILE", help="the backup file")
    restore.add_argument(
        "--clean",
        action="store_true",
        help="restore over a database that holds tables, dropping the backup's "
        "objects there first",
    )
    restore.set_defaults(handler=_restore)
