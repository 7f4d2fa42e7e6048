"""``migrationkit backup`` and ``migrationkit restore``: options and output."""

from __future__ import annotations

import argparse
from pathlib import Path

from migrationkit import command
from migrationkit.backup import DumpProgress
from migrationkit.cli.spec import Call, Command, Param, epilog
from migrationkit.exits import EXIT_OK
from migrationkit.progress import Progress

BACKUP_DETAILS = """\
PostgreSQL's own pg_dump in its custom format (-Fc), of the server's major
version: the embedded server's tools, Debian's /usr/lib/postgresql/<major>/bin,
or the PATH. The file is created with mode 0600 and never replaces an existing
one; it is read back with `pg_restore --list` before the command succeeds. Each
table is shown as it is written. `alembic -x backup=1 upgrade head` takes the
same backup before migrating (into backups/ beside alembic.ini; -x
backup_dir=PATH moves it).
"""

RESTORE_DETAILS = """\
A backup made by `migrationkit backup`, restored with pg_restore of the
server's major version, in one transaction (all or nothing). A database that
already holds tables is refused unless --clean, which drops the backup's
objects there first.
"""

HANDOVER_NOTE = """\
The password reaches pg_dump and pg_restore only in their environment, never on
a command line.
"""


def _show_backup(_args: argparse.Namespace, call: Call) -> int:
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

    result = call(progress=progress)
    print(f"Backed up {result.database} to {result.path}")
    print(
        f"{result.size:,} bytes, {result.tables} tables, {result.entries} archive "
        f"entries read back by pg_restore --list (PostgreSQL {result.major}), "
        f"{result.seconds:.1f} s"
    )
    return EXIT_OK


def _show_restore(_args: argparse.Namespace, call: Call) -> int:
    result = call()
    cleaned = " (its objects dropped first: --clean)" if result.cleaned else ""
    print(f"Restored {result.path} into {result.database}{cleaned}")
    print(f"{result.entries} archive entries, {result.seconds:.1f} s")
    return EXIT_OK


BACKUP_COMMANDS = (
    Command(
        words=("backup",),
        verb=command.backup,
        show=_show_backup,
        options=(
            Param(
                name="output",
                flags=("--output", "-o"),
                help="where to write it (default: <database>-<UTC time>.dump here)",
                options={"type": Path, "metavar": "FILE"},
            ),
        ),
        supplied=("progress",),
        details=BACKUP_DETAILS + HANDOVER_NOTE,
        epilog=epilog(database=True, statuses={0: "done"}),
    ),
    Command(
        words=("restore",),
        verb=command.restore,
        show=_show_restore,
        options=(
            Param(
                name="path",
                help="the backup file",
                options={"type": Path, "metavar": "FILE"},
            ),
            Param(
                name="clean",
                help="restore over a database that holds tables, dropping the "
                "backup's objects there first",
            ),
        ),
        details=RESTORE_DETAILS + HANDOVER_NOTE,
        epilog=epilog(database=True, statuses={0: "done"}),
    ),
)
