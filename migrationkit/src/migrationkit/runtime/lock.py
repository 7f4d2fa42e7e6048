"""One migration run at a time per database, however many deployers start at once.

Containers that run ``alembic upgrade head`` on start race each other. Holding a
session-level PostgreSQL advisory lock around the whole run serialises them: the
second waits, then reads the version table only after the first has finished, and
finds nothing left to do. The lock belongs to the connection, so it survives the
commit after each migration and vanishes if the process dies.

The second run waits by polling ``pg_try_advisory_lock`` with no transaction
open between attempts, never by blocking in ``pg_advisory_lock``: a statement
blocked there holds a snapshot, and ``CREATE INDEX CONCURRENTLY`` in the first
run waits for every older snapshot in the database, so the two would wait for
each other until PostgreSQL's deadlock detector killed one of them.
"""

from __future__ import annotations

import hashlib
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress

import sqlalchemy as sa

_POLL_INTERVAL_S = 0.25


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
            "   AND l.classid = ((CAST(:key AS bigint) >> 32) & 4294967295)::oid"
            "   AND l.objid = (CAST(:key AS bigint) & 4294967295)::oid"
            "   AND l.objsubid = 1"
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
    if not _try_lock(connection, key):
        holders = ", ".join(lock_holders(connection, key)) or "another session"
        connection.commit()
        print(
            f"migrationkit: another migration is running ({holders}); waiting for it "
            "to finish...",
            file=sys.stderr,
            flush=True,
        )
        while not _try_lock(connection, key):
            time.sleep(_POLL_INTERVAL_S)
    try:
        yield
    except BaseException:
        # The run already failed. If the connection broke with it (server gone,
        # session terminated), releasing the lock would raise a second error that
        # hides the first; the lock went with the session anyway.
        with suppress(sa.exc.SQLAlchemyError):
            _release(connection, key)
        raise
    _release(connection, key)


def _try_lock(connection: sa.Connection, key: int) -> bool:
    """One attempt; the transaction ends at once, so no snapshot is kept."""
    got_it = connection.execute(
        sa.text("SELECT pg_try_advisory_lock(:key)"), {"key": key}
    ).scalar_one()
    connection.commit()
    return bool(got_it)


def _release(connection: sa.Connection, key: int) -> None:
    if connection.invalidated:
        return
    if connection.in_transaction():
        connection.rollback()
    connection.execute(sa.text("SELECT pg_advisory_unlock(:key)"), {"key": key})
    connection.commit()
