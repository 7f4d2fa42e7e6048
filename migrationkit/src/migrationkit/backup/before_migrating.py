"""``alembic -x backup=1 upgrade head``: a checked backup before anything changes.

Called by ``run_migrations`` once it holds the migration lock and before the
first revision runs, for every command that changes the database (``upgrade``,
``downgrade``, ``stamp``). The backup is taken with ``pg_dump -Fc`` and read
back with ``pg_restore --list``; if either fails the run stops there, with the
database untouched. ``-x backup_dir=PATH`` says where the file goes (default:
``backups/`` beside alembic.ini, created 0700).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path

from migrationkit.backup.archive import (
    BackupResult,
    DumpProgress,
    backup_database,
    default_backup_name,
)
from migrationkit.database import DatabaseTarget
from migrationkit.errors import MigrationKitError
from migrationkit.settings import Settings

log = logging.getLogger(__name__)

_YES = {"1", "true", "yes", "on"}
_NO = {"0", "false", "no", "off", ""}
DEFAULT_FOLDER = "backups"


def backup_requested(x_arguments: Mapping[str, str]) -> bool:
    """``-x backup=1`` (or true/yes/on); anything but a yes or a no is refused."""
    raw = x_arguments.get("backup", "").strip().lower()
    if raw in _YES:
        return True
    if raw in _NO:
        return False
    raise MigrationKitError(
        f"-x backup={raw!r} is neither yes nor no: write -x backup=1 to back up "
        "before migrating (-x backup_dir=PATH says where)."
    )


def backup_folder(x_arguments: Mapping[str, str], *, ini: str | None) -> Path:
    """``-x backup_dir``, else ``backups/`` beside alembic.ini; made 0700 if new."""
    given = x_arguments.get("backup_dir")
    if given:
        folder = Path(given).expanduser()
    else:
        base = Path(ini).resolve().parent if ini else Path.cwd()
        folder = base / DEFAULT_FOLDER
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    return folder


def before_migrating(
    x_arguments: Mapping[str, str],
    *,
    target: DatabaseTarget,
    settings: Settings,
    ini: str | None,
) -> BackupResult | None:
    """Back up ``target`` when ``-x backup=1`` asks; None when it does not."""
    if not backup_requested(x_arguments):
        return None
    output = backup_folder(x_arguments, ini=ini) / default_backup_name(target)
    log.info("backing up %s to %s before migrating", target.masked, output)
    result = backup_database(
        target, settings=settings, output=output, progress=_log_progress
    )
    log.info(
        "backup checked: %s (%s bytes, %d tables, %d archive entries)",
        result.path,
        f"{result.size:,}",
        result.tables,
        result.entries,
    )
    return result


def _log_progress(progress: DumpProgress) -> None:
    log.info(
        "backup: table %d/%d %s (%s bytes written)",
        progress.tables_done,
        progress.tables_total,
        progress.table,
        f"{progress.bytes_written:,}",
    )
