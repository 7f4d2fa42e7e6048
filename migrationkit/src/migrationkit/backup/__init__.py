"""Backups with the server's own tools: ``pg_dump -Fc`` and ``pg_restore``.

``migrationkit backup`` and ``migrationkit restore`` call these, and so does
``alembic -x backup=1 upgrade head`` (``migrationkit.backup.before_migrating``),
which backs up and checks the file before anything is migrated. See
docs/backup.md.
"""

from migrationkit.backup.archive import (
    BackupResult,
    DumpProgress,
    RestoreResult,
    backup_database,
    default_backup_name,
    list_entries,
    restore_database,
)
from migrationkit.backup.tools import BackupToolError, Tools, find_tools

__all__ = [
    "BackupResult",
    "BackupToolError",
    "DumpProgress",
    "RestoreResult",
    "Tools",
    "backup_database",
    "default_backup_name",
    "find_tools",
    "list_entries",
    "restore_database",
]
