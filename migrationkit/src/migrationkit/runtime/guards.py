"""Session settings that bound what a migration may wait for and how long it runs.

The danger of DDL on a busy table is less the lock it takes than the queue it
forms: an ``ALTER TABLE`` waiting behind one long transaction holds its place in
the lock queue, and every later query on the table (even a plain SELECT) waits
behind it. ``lock_timeout`` makes the migration give up quickly instead (2 s by
default), so the application stalls for at most that long; ``retry`` then tries
again with backoff. The wait for another run's migration lock is bounded too
(``migration_lock_timeout``, 10 min by default), and a contract revision that
would destroy rows flagged earlier in the same run needs ``-x acknowledge=<rev>``.

On the server itself the timeouts are session settings, covering every
transaction and autocommit block of the run. Through a pooler (declared or known
to keep sessions, see ``runtime.pooler``) nothing of the run may outlive its
transaction on a server process that others might use: the timeouts are set in
each transaction by the run's ``ServerProcessPin`` instead.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError

from migrationkit.pg import INSUFFICIENT_PRIVILEGE, format_duration, sqlstate_of
from migrationkit.runtime.pooler import ServerProcessPin, parse_pooler
from migrationkit.settings import Settings, parse_count, parse_duration

log = logging.getLogger(__name__)

DEADLOCK_TIMEOUT = 0.02
"""Seconds the migration's lock waits before PostgreSQL's deadlock check runs. That
check is also what makes autovacuum give up a lock a migration waits for, so the
server's default (1 s) is a 1 s stall for every writer queued behind the DDL."""


@dataclass(frozen=True, kw_only=True)
class MigrationGuards:
    """How long migration statements may wait and run, how often to retry, how
    long to wait for another run, and which data-destroying revisions may run."""

    lock_timeout: float
    statement_timeout: float
    lock_retries: int
    deadlock_timeout: float = DEADLOCK_TIMEOUT
    migration_lock_timeout: float = 600.0
    acknowledged: frozenset[str] = frozenset()
    """Revisions allowed to destroy rows flagged earlier in the same run."""
    session_pooler: bool = False
    """The operator declared a pooler in session mode between us and the server."""

    @classmethod
    def from_x_arguments(
        cls, x_arguments: Mapping[str, str], *, settings: Settings
    ) -> MigrationGuards:
        """``alembic -x lock_timeout=5s -x statement_timeout=10min -x lock_retries=3
        -x migration_lock_timeout=30min -x pooler=session`` override the
        environment's ``MIGRATIONKIT_*`` settings; ``-x acknowledge=011,012``
        names revisions allowed to destroy rows flagged earlier in the same run."""

        def duration(name: str, default: float) -> float:
            raw = x_arguments.get(name)
            return default if raw is None else parse_duration(raw, name=f"-x {name}")

        retries = x_arguments.get("lock_retries")
        return cls(
            lock_timeout=duration("lock_timeout", settings.lock_timeout),
            statement_timeout=duration("statement_timeout", settings.statement_timeout),
            lock_retries=(
                settings.lock_retries
                if retries is None
                else parse_count(retries, name="-x lock_retries")
            ),
            deadlock_timeout=duration("deadlock_timeout", DEADLOCK_TIMEOUT),
            migration_lock_timeout=duration(
                "migration_lock_timeout", settings.migration_lock_timeout
            ),
            session_pooler=(
                parse_pooler(x_arguments["pooler"], name="-x pooler")
                if "pooler" in x_arguments
                else parse_pooler(settings.pooler, name="MIGRATIONKIT_POOLER")
            ),
            acknowledged=frozenset(
                name.strip()
                for name in x_arguments.get("acknowledge", "").split(",")
                if name.strip()
            ),
        )

    def apply(self, connection: sa.Connection) -> None:
        """SET both timeouts on the session (committed, so a rollback keeps them).

        Session-level, not ``SET LOCAL``: they cover every migration's transaction
        and Alembic's autocommit blocks, which run on the same connection. On a
        connection pinned through a pooler they are handed to the pin, which sets
        them in each transaction instead (see the module's docstring).
        """
        timeouts = {
            "lock_timeout": format_duration(self.lock_timeout),
            "statement_timeout": format_duration(self.statement_timeout),
        }
        pin = ServerProcessPin.of(connection)
        if pin is not None:
            if self.deadlock_timeout and self._may_set_deadlock_timeout(connection):
                timeouts["deadlock_timeout"] = format_duration(self.deadlock_timeout)
            pin.settings = timeouts
            return
        for name, value in timeouts.items():
            connection.execute(
                sa.text("SELECT set_config(:name, :value, false)"),
                {"name": name, "value": value},
            )
        connection.commit()
        self._shorten_deadlock_timeout(connection)

    def _may_set_deadlock_timeout(self, connection: sa.Connection) -> bool:
        """Whether this role may lower ``deadlock_timeout`` (tried, rolled back)."""
        try:
            connection.execute(
                sa.text("SELECT set_config('deadlock_timeout', :value, true)"),
                {"value": format_duration(self.deadlock_timeout)},
            )
        except DBAPIError as exc:
            if sqlstate_of(exc) != INSUFFICIENT_PRIVILEGE:
                raise
            return False
        finally:
            connection.rollback()
        return True

    def _shorten_deadlock_timeout(self, connection: sa.Connection) -> None:
        """Make autovacuum yield a lock the migration waits for within 20 ms.

        An autovacuum worker holds SHARE UPDATE EXCLUSIVE on a table it cleans
        (after a big backfill it surely will). A brief ACCESS EXCLUSIVE step then
        waits for it, and every write queues behind that step, until the waiting
        session's deadlock check (after ``deadlock_timeout``, 1 s by default)
        cancels the worker. Only superusers (or roles granted SET on the
        parameter) may lower it; others keep the server's value, and a log line
        says so.
        """
        if not self.deadlock_timeout:
            return
        try:
            connection.execute(
                sa.text("SELECT set_config('deadlock_timeout', :value, false)"),
                {"value": format_duration(self.deadlock_timeout)},
            )
            connection.commit()
        except DBAPIError as exc:
            connection.rollback()
            if sqlstate_of(exc) != INSUFFICIENT_PRIVILEGE:
                raise
            log.info(
                "deadlock_timeout stays at the server's setting (this role may not "
                "change it): an autovacuum worker may hold up a brief lock step "
                "that long"
            )
