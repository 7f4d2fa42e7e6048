"""One migration run at a time per database, however many deployers start at once.

Containers that run ``alembic upgrade head`` on start race each other. Holding a
session-level PostgreSQL advisory lock around the whole run serialises them: the
second waits, then reads the version table only after the first has finished, and
finds nothing left to do. The lock belongs to the connection, so it survives the
commit after each migration and vanishes if the process dies.
"""

from __future__ import annotations

import hashlib
import sys
from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa


def advisory_lock_key(name: str) -> int:
    """A stable signed 64-bit key for ``pg_advisory_lock`` derived from ``name``."""
    digest = hashlib.sha256(f"migrationkit:{name}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def lock_holders(connection: sa.Connection, key: int) -> list[str]:
    """Describe the sessions holding the advisory lock ``key`` (pid and program)."""
    rows = connection.execute(
        sa.text(
            "SELECT a.pid, coalesce(nullif(a.application_name, ''), '?') AS app,"
            "       a.state, a.query_start"
            "  FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid"
            " WHERE l.locktype = 'advisory' AND l.granted"
            "   AND l.classid = ((:key >> 32) & 4294967295)::oid"
            "   AND l.objid = (:key & 4294967295)::oid AND l.objsubid = 1"
        ),
        {"key": key},
    ).all()
    return [
        f"pid {row.pid} ({row.app}, {row.state}, since {row.query_start:%H:%M:%S})"
        for row in rows
    ]


@contextmanager
def migration_lock(connection: sa.Connection, *, name: str) -> Iterator[None]:
    """Hold the migration advisory lock for ``name`` while the block runs.

    Leaves the connection outside any transaction on entry, so Alembic can open
    one transaction per migration.
    """
    key = advisory_lock_key(name)
    got_it = connection.execute(
        sa.text("SELECT pg_try_advisory_lock(:key)"), {"key": key}
    ).scalar_one()
    if not got_it:
        holders = ", ".join(lock_holders(connection, key)) or "another session"
        print(
            f"migrationkit: another migration is running ({holders}); waiting for it "
            "to finish...",
            file=sys.stderr,
            flush=True,
        )
        connection.execute(sa.text("SELECT pg_advisory_lock(:key)"), {"key": key})
    connection.commit()
    try:
        yield
    finally:
        if connection.in_transaction():
            connection.rollback()
        connection.execute(sa.text("SELECT pg_advisory_unlock(:key)"), {"key": key})
        connection.commit()
