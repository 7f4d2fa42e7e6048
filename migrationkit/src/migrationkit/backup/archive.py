"""Take, check and restore a backup: ``pg_dump -Fc``, ``pg_restore [--list]``.

The archive is PostgreSQL's custom format (``-Fc``): compressed, restorable
table by table, and readable by ``pg_restore --list`` without a server, which
is how a backup is checked before anything relies on it. The file is created
with ``O_EXCL`` and mode 0600 in one call, so it is never readable by others,
not even for a moment, and never replaces a file that was already there; a
dump that fails leaves no file behind.
"""

from __future__ import annotations

import os
import re
import subprocess
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa

from migrationkit.backup.tools import (
    BACKUP_APPLICATION_NAME,
    BackupToolError,
    Tools,
    find_tools,
    libpq_conninfo,
    password_of,
    server_major,
    tool_environment,
)
from migrationkit.database import DatabaseTarget, connect, create_engine
from migrationkit.errors import MigrationKitError
from migrationkit.masking import mask_secrets
from migrationkit.settings import Settings

_TABLE_DUMPED = re.compile(r'dumping contents of table "(?P<table>[^"]+)"')
_TAIL_LINES = 20
_LIST_TIMEOUT_S = 300

# What a database holds beyond what CREATE DATABASE gives it: relations and
# types in any schema but the system's, and schemas other than public.
_OBJECTS_SQL = """
SELECT (SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname NOT IN ('pg_catalog', 'information_schema')
           AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp%')
     + (SELECT count(*) FROM pg_namespace
         WHERE nspname NOT IN ('public', 'pg_catalog', 'information_schema')
           AND nspname NOT LIKE 'pg\\_%')
"""
_TABLES_SQL = """
SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE c.relkind IN ('r', 'p', 'm')
   AND n.nspname NOT IN ('pg_catalog', 'information_schema')
   AND n.nspname NOT LIKE 'pg\\_toast%'
"""

ProgressReport = Callable[["DumpProgress"], None]


@dataclass(frozen=True, kw_only=True)
class DumpProgress:
    """Where a running dump is: ``table`` is the one being written now."""

    tables_done: int
    tables_total: int
    table: str
    bytes_written: int


@dataclass(frozen=True, kw_only=True)
class BackupResult:
    """A finished, checked backup."""

    path: Path
    database: str
    """The database, as people may see it (password masked)."""
    size: int
    tables: int
    entries: int
    """Entries ``pg_restore --list`` read back from the file."""
    major: int
    seconds: float


@dataclass(frozen=True, kw_only=True)
class RestoreResult:
    path: Path
    database: str
    entries: int
    cleaned: bool
    seconds: float


def default_backup_name(target: DatabaseTarget, *, now: datetime | None = None) -> str:
    """``<database>-<UTC time>.dump``: sorts by time, never collides in practice."""
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")
    return f"{target.url.database or 'database'}-{stamp}.dump"


def create_private_file(path: Path) -> int:
    """Open a new file for writing, mode 0600 from its first instant.

    ``O_EXCL`` refuses a file (or a link) that already exists, so a backup never
    overwrites one, nor writes through a link someone planted.
    """
    try:
        return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise MigrationKitError(
            f"{path} already exists; a backup never replaces a file. Choose "
            "another --output, or move the old one away."
        ) from None
    except OSError as exc:
        raise MigrationKitError(
            f"Cannot create the backup file {path}: {exc.strerror}."
        ) from None


def backup_database(
    target: DatabaseTarget,
    *,
    settings: Settings,
    output: Path,
    progress: ProgressReport | None = None,
    tools: Tools | None = None,
) -> BackupResult:
    """Dump ``target`` to ``output`` with ``pg_dump -Fc``, then check the file.

    ``progress`` hears of each table as ``pg_dump --verbose`` starts writing it,
    with the bytes written so far. The check reads the archive back with
    ``pg_restore --list``; a dump that fails or does not read back is removed.
    """
    started = time.monotonic()
    tools = tools or find_tools(server_major(target, settings=settings))
    tables = _count(target, settings=settings, query=_TABLES_SQL)
    password = password_of(target, settings=settings)
    argv = [
        tools.program("pg_dump"),
        "--format=custom",
        "--verbose",
        f"--dbname={libpq_conninfo(target.url)}",
    ]
    fd = create_private_file(output)
    done = False
    try:
        with os.fdopen(fd, "wb") as sink:
            process = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=sink,
                stderr=subprocess.PIPE,
                text=True,
                env=tool_environment(
                    password=password, connect_timeout=settings.connect_timeout
                ),
            )
            tail = _follow(
                process, sink_fd=sink.fileno(), tables=tables, progress=progress
            )
            if process.wait() != 0:
                raise BackupToolError(
                    f"pg_dump could not back up {target.masked}: "
                    f"{mask_secrets(_errors(tail, 'pg_dump'), password)}"
                )
            sink.flush()
            os.fsync(sink.fileno())
        entries = list_entries(output, tools=tools)
        done = True
    finally:
        if not done:
            output.unlink(missing_ok=True)
    return BackupResult(
        path=output,
        database=target.masked,
        size=output.stat().st_size,
        tables=tables,
        entries=entries,
        major=tools.major,
        seconds=time.monotonic() - started,
    )


def _follow(
    process: subprocess.Popen[str],
    *,
    sink_fd: int,
    tables: int,
    progress: ProgressReport | None,
) -> deque[str]:
    """Read ``pg_dump --verbose`` as it runs; keep its last lines for an error."""
    tail: deque[str] = deque(maxlen=_TAIL_LINES)
    done = 0
    assert process.stderr is not None
    for line in process.stderr:
        tail.append(line.rstrip("\n"))
        found = _TABLE_DUMPED.search(line)
        if found and progress is not None:
            done += 1
            written = os.fstat(sink_fd).st_size
            progress(
                DumpProgress(
                    tables_done=done,
                    tables_total=max(tables, done),
                    table=found["table"],
                    bytes_written=written,
                )
            )
    return tail


def list_entries(path: Path, *, tools: Tools) -> int:
    """How many entries ``pg_restore --list`` reads from ``path``; raises when
    it cannot read the archive (truncated, not an archive, a newer format)."""
    result = subprocess.run(
        [tools.program("pg_restore"), "--list", str(path)],
        capture_output=True,
        text=True,
        check=False,
        env=tool_environment(password=None),
        timeout=_LIST_TIMEOUT_S,
    )
    if result.returncode != 0:
        raise BackupToolError(
            f"pg_restore --list cannot read {path}, so it is not a usable backup: "
            f"{_errors(deque(result.stderr.splitlines()), 'pg_restore')}"
        )
    return sum(
        1
        for line in result.stdout.splitlines()
        if line.strip() and not line.startswith(";")
    )


def restore_database(
    target: DatabaseTarget,
    *,
    settings: Settings,
    path: Path,
    clean: bool = False,
    tools: Tools | None = None,
) -> RestoreResult:
    """Restore ``path`` into ``target`` in one transaction (all of it or none).

    A database that already holds tables is refused unless ``clean``: then the
    archive's objects are dropped first (``--clean --if-exists``); objects the
    archive does not know stay.
    """
    started = time.monotonic()
    if not path.is_file():
        raise MigrationKitError(f"No backup file at {path}.")
    tools = tools or find_tools(server_major(target, settings=settings))
    entries = list_entries(path, tools=tools)
    objects = _count(target, settings=settings, query=_OBJECTS_SQL)
    if objects and not clean:
        raise MigrationKitError(
            f"{target.masked} is not empty ({objects} tables, sequences, indexes, "
            "types or schemas), and restoring over them would mix two databases. "
            "Restore into a new, empty database, or pass --clean to drop the "
            "backup's objects there first."
        )
    password = password_of(target, settings=settings)
    argv = [
        tools.program("pg_restore"),
        "--single-transaction",
        "--exit-on-error",
        f"--dbname={libpq_conninfo(target.url)}",
    ]
    if clean:
        argv += ["--clean", "--if-exists"]
    result = subprocess.run(
        [*argv, str(path)],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        check=False,
        env=tool_environment(
            password=password, connect_timeout=settings.connect_timeout
        ),
    )
    if result.returncode != 0:
        detail = _errors(deque(result.stderr.splitlines()), "pg_restore")
        raise BackupToolError(
            f"pg_restore could not restore {path} into {target.masked}; nothing "
            f"was changed (one transaction): {mask_secrets(detail, password)}"
        )
    return RestoreResult(
        path=path,
        database=target.masked,
        entries=entries,
        cleaned=clean,
        seconds=time.monotonic() - started,
    )


def _count(target: DatabaseTarget, *, settings: Settings, query: str) -> int:
    engine = create_engine(
        target, settings=settings, application_name=BACKUP_APPLICATION_NAME
    )
    try:
        with connect(engine, target) as conn:
            return int(conn.execute(sa.text(query)).scalar_one())
    finally:
        engine.dispose()


def _errors(lines: deque[str], program: str) -> str:
    """The tool's error lines (else its last line), without its name in front."""
    errors = [line for line in lines if "error:" in line or "FATAL" in line]
    chosen = errors or [line for line in lines if line.strip()][-1:] or ["(no output)"]
    return " ".join(line.removeprefix(f"{program}: ").strip() for line in chosen)
