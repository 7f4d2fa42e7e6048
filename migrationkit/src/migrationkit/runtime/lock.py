"""One migration run at a time per database, however many deployers start at once.

Containers that run ``alembic upgrade head`` on start race each other. Holding a
session-level PostgreSQL advisory lock around the whole run serialises them: the
second waits, then reads the version table only after the first has finished, and
finds nothing left to do. The lock belongs to the connection, so it survives the
commit after each migration and vanishes if the process dies. Advisory locks are
per database: runs against other databases of the same server never wait here.

The second run waits by polling ``pg_try_advisory_lock`` with no transaction
open between attempts, never by blocking in ``pg_advisory_lock``: a statement
blocked there holds a snapshot, and ``CREATE INDEX CONCURRENTLY`` in the first
run waits for every older snapshot in the database, so the two would wait for
each other until PostgreSQL's deadlock detector killed one of them. The wait is
bounded (``migration_lock_timeout``) and says, now and then, who holds the lock.

On a connection that is not proven to be the server itself (a session pooler,
see ``runtime.pooler``), the server process that took the lock is pinned: every
later transaction of the run must start there (``ServerProcessPin``), and the
release is made there, or the run says that the lock may remain and where.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress

import sqlalchemy as sa

from migrationkit.errors import MigrationLockError, TransactionPoolerError
from migrationkit.runtime.blockers import Blocker, blockers_from, terminate_statements
from migrationkit.runtime.pooler import (
    Route,
    ServerProcessPin,
    release_where_held,
    remains_held,
)
from migrationkit.settings import describe_duration

log = logging.getLogger(__name__)

_POLL_INTERVAL_S = 0.25
REPORT_EVERY_S = 30.0
"""While waiting, who holds the lock is logged again this often (seconds)."""


def advisory_lock_key(name: str) -> int:
    """A stable signed 64-bit key for ``pg_advisory_lock`` derived from ``name``."""
    digest = hashlib.sha256(f"migrationkit:{name}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


# pg_locks lists advisory locks of every database; only this database's matter.
_HOLDERS = sa.text(
    "SELECT a.pid, coalesce(nullif(a.application_name, ''), '?') AS application,"
    "       a.usename AS user_name, a.datname AS database,"
    "       a.backend_start AS connected, a.state, a.query_start,"
    "       regexp_replace(coalesce(a.query, ''), '\\s+', ' ', 'g') AS query"
    "  FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid"
    " WHERE l.locktype = 'advisory' AND l.granted"
    "   AND l.database = (SELECT oid FROM pg_database"
    "                      WHERE datname = current_database())"
    "   AND l.classid = ((CAST(:key AS bigint) >> 32) & 4294967295)::oid"
    "   AND l.objid = (CAST(:key AS bigint) & 4294967295)::oid"
    "   AND l.objsubid = 1 AND l.pid <> pg_backend_pid()"
    " ORDER BY a.pid"
)

_HELD_HERE = sa.text(
    "SELECT count(*) FROM pg_locks"
    " WHERE locktype = 'advisory' AND granted AND pid = pg_backend_pid()"
    "   AND classid = ((CAST(:key AS bigint) >> 32) & 4294967295)::oid"
    "   AND objid = (CAST(:key AS bigint) & 4294967295)::oid AND objsubid = 1"
)


def lock_holders(connection: sa.Connection, key: int) -> list[Blocker]:
    """The other sessions of this database holding the advisory lock ``key``."""
    return blockers_from(connection.execute(_HOLDERS, {"key": key}))


@contextmanager
def migration_lock(
    connection: sa.Connection,
    *,
    name: str,
    timeout: float = 600.0,
    route: Route | None = None,
) -> Iterator[None]:
    """Hold the migration advisory lock for ``name`` while the block runs.

    Waits at most ``timeout`` seconds for another run to release it (0: no limit),
    then raises ``MigrationLockError`` naming the holder. Leaves the connection
    outside any transaction on entry, so Alembic can open one per migration.
    ``route`` says how the connection reaches the server: unless it is the
    server itself, the holder's server process is pinned for the whole block.
    """
    key = advisory_lock_key(name)
    holder = _try_lock(connection, key)
    if holder is None:
        holder = _wait_for_lock(connection, key=key, name=name, timeout=timeout)
    pin = None
    if route is not None and not route.direct:
        pin = ServerProcessPin(connection=connection, holder=holder, route=route)
        pin.install()
    try:
        yield
    except TransactionPoolerError as exc:
        # A transaction strayed from the holder's process: release it there.
        assert pin is not None
        aftermath = (
            "The migration lock was released in that process."
            if _release_pinned(connection, key, pin)
            else remains_held(holder)
        )
        raise TransactionPoolerError(f"{exc}\n\n{aftermath}") from None
    except BaseException:
        # The run already failed. If the connection broke with it (server gone,
        # session terminated), releasing the lock would raise a second error that
        # hides the first; the lock went with the session anyway.
        with suppress(sa.exc.SQLAlchemyError):
            if pin is None:
                _release(connection, key)
            elif not _release_pinned(connection, key, pin):
                log.warning("%s", remains_held(holder))
        raise
    if pin is None:
        _release(connection, key)
    elif not _release_pinned(connection, key, pin):
        raise TransactionPoolerError(
            "The migrations ran, but the migration lock could not be released: "
            f"no transaction reached server process {holder} again. "
            + remains_held(holder)
        )


def _release_pinned(connection: sa.Connection, key: int, pin: ServerProcessPin) -> bool:
    if connection.invalidated:
        return True  # the session, and its lock, went with the connection
    return release_where_held(
        connection, pin=pin, unlock=sa.text("SELECT pg_advisory_unlock(:key)"), key=key
    )


def _wait_for_lock(
    connection: sa.Connection, *, key: int, name: str, timeout: float
) -> int:
    database = connection.execute(sa.text("SELECT current_database()")).scalar_one()
    holders = _holders_now(connection, key)
    bound = f"up to {describe_duration(timeout)}" if timeout else "with no limit"
    log.warning(
        "another migration is running on database %r (%s); waiting for it to "
        "finish (%s: migration_lock_timeout)...",
        database,
        _listed(holders),
        bound,
    )
    started = time.monotonic()
    next_report = started + REPORT_EVERY_S
    while (holder := _try_lock(connection, key)) is None:
        waited = time.monotonic() - started
        if timeout and waited >= timeout:
            raise MigrationLockError(
                _gave_up_waiting(
                    database=database,
                    name=name,
                    timeout=timeout,
                    holders=_holders_now(connection, key),
                )
            )
        if time.monotonic() >= next_report:
            log.warning(
                "still waiting for the migration lock after %s: %s",
                describe_duration(round(waited)),
                _listed(_holders_now(connection, key)),
            )
            next_report += REPORT_EVERY_S
        time.sleep(_POLL_INTERVAL_S)
    log.info(
        "got the migration lock after %.1fs; the version table is read only now",
        time.monotonic() - started,
    )
    return holder


def _holders_now(connection: sa.Connection, key: int) -> list[Blocker]:
    holders = lock_holders(connection, key)
    connection.commit()
    return holders


def _listed(holders: list[Blocker]) -> str:
    if not holders:
        return "held by a session that has just let go"
    return "held by " + "; ".join(holder.describe() for holder in holders)


def _gave_up_waiting(
    *, database: str, name: str, timeout: float, holders: list[Blocker]
) -> str:
    lines = [
        (
            f"Another migration still holds the migration lock of database "
            f"{database!r} (lock {name!r}) after "
            f"migration_lock_timeout={describe_duration(timeout)}; this run "
            "changed nothing."
        ),
        "",
    ]
    if holders:
        lines.append("Held by:")
        lines.extend(f"  {holder.describe()}" for holder in holders)
        stuck = f"; if it is stuck, end it first ({terminate_statements(holders)})"
    else:
        lines.append("Its holder let go just now.")
        stuck = ""
    lines += [
        "",
        (
            "What to do: let that migration finish, then run the same command "
            f"again{stuck}. To wait longer: -x migration_lock_timeout=30min (or "
            "MIGRATIONKIT_MIGRATION_LOCK_TIMEOUT)."
        ),
    ]
    return "\n".join(lines)


def _try_lock(connection: sa.Connection, key: int) -> int | None:
    """One attempt; the server process that got the lock, or None.

    The transaction ends at once, so no snapshot is kept.
    """
    got_it, pid = connection.execute(
        sa.text("SELECT pg_try_advisory_lock(:key), pg_backend_pid()"), {"key": key}
    ).one()
    connection.commit()
    return int(pid) if got_it else None


def _release(connection: sa.Connection, key: int) -> None:
    """Release the lock, and make sure this session no longer holds it.

    Session-level advisory locks stack: a migration that took the same key again
    would leave it held after one unlock, and every later run would wait for this
    connection. One that called ``pg_advisory_unlock_all()`` released it early,
    and another run may have started meanwhile: that is logged.
    """
    if connection.invalidated:
        return
    if connection.in_transaction():
        connection.rollback()
    unlock = sa.text("SELECT pg_advisory_unlock(:key)")
    released = connection.execute(unlock, {"key": key}).scalar_one()
    extra = 0
    while connection.execute(_HELD_HERE, {"key": key}).scalar_one():
        connection.execute(unlock, {"key": key})
        extra += 1
    connection.commit()
    if not released:
        log.warning(
            "the migration lock was no longer held when the run ended: something "
            "in the run released it early (pg_advisory_unlock_all()?), so another "
            "run may have migrated at the same time"
        )
    elif extra:
        log.warning(
            "the migration lock had been taken %d more time(s) in this session; "
            "released all of them",
            extra,
        )
