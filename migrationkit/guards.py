"""Runtime guards for a migration run: bounded lock waits, and retry when they end.

The danger of DDL on a busy table is less the lock it takes than the queue it
forms: an ``ALTER TABLE`` waiting behind one long transaction holds its place in
the lock queue, and every later query on the table (even a plain SELECT) waits
behind it. ``lock_timeout`` makes the migration give up quickly instead (2 s by
default), so the application stalls for at most that long. The run is then
retried with exponential backoff and jitter: Alembic rereads the version table
at each ``run_migrations()``, and with one transaction per migration the retry
resumes at the migration that timed out. When the retries are used up, the
failure names the session that held the lock, and the revision the database is at.

``env.py`` uses it as::

    guards = MigrationGuards.from_x_arguments(
        context.get_x_argument(as_dictionary=True), settings=settings
    )
    ...
    for attempt in guards.attempts(context.get_context()):
        with attempt, context.begin_transaction():
            context.run_migrations()
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from types import TracebackType
from typing import Any

import sqlalchemy as sa
from alembic.runtime.migration import MigrationContext
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from migrationkit.database import mask_secrets
from migrationkit.errors import MigrationLockError
from migrationkit.settings import Settings, parse_count, parse_duration

log = logging.getLogger(__name__)

LOCK_NOT_AVAILABLE = "55P03"
FIRST_RETRY_DELAY = 0.5
"""Seconds before the first retry; each later one waits twice as long."""
MAX_RETRY_DELAY = 30.0
DEADLOCK_TIMEOUT = 0.02
"""Seconds the migration's lock waits before PostgreSQL's deadlock check runs. That
check is also what makes autovacuum give up a lock a migration waits for, so the
server's default (1 s) is a 1 s stall for every writer queued behind the DDL."""
INSUFFICIENT_PRIVILEGE = "42501"
QUERY_SHOWN = 120
"""Characters of a blocking session's query shown in messages."""


def sqlstate_of(exc: BaseException) -> str | None:
    """The PostgreSQL SQLSTATE behind ``exc`` (wrapped by SQLAlchemy or not).

    Follows SQLAlchemy's ``.orig`` and explicit ``raise ... from`` causes only: an
    error that merely happened while another was being handled is not that error.
    """
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        state = getattr(current, "sqlstate", None)
        if isinstance(state, str):
            return state
        orig = getattr(current, "orig", None)
        current = orig if isinstance(orig, BaseException) else current.__cause__
    return None


def format_duration(seconds: float) -> str:
    """PostgreSQL's spelling of a duration, whole milliseconds (``0`` is off)."""
    return f"{round(seconds * 1000)}ms"


@dataclass(frozen=True, kw_only=True)
class MigrationGuards:
    """How long migration statements may wait and run, and how often to retry."""

    lock_timeout: float
    statement_timeout: float
    lock_retries: int
    deadlock_timeout: float = DEADLOCK_TIMEOUT

    @classmethod
    def from_x_arguments(
        cls, x_arguments: Mapping[str, str], *, settings: Settings
    ) -> MigrationGuards:
        """``alembic -x lock_timeout=5s -x statement_timeout=10min -x lock_retries=3``
        override the environment's ``MIGRATIONKIT_*`` settings."""

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
        )

    def apply(self, connection: sa.Connection) -> None:
        """SET both timeouts on the session (committed, so a rollback keeps them).

        Session-level, not ``SET LOCAL``: they cover every migration's transaction
        and Alembic's autocommit blocks, which run on the same connection.
        """
        for name, seconds in (
            ("lock_timeout", self.lock_timeout),
            ("statement_timeout", self.statement_timeout),
        ):
            connection.execute(
                sa.text("SELECT set_config(:name, :value, false)"),
                {"name": name, "value": format_duration(seconds)},
            )
        connection.commit()
        self._shorten_deadlock_timeout(connection)

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

    def attempts(self, context: MigrationContext) -> Iterator[Attempt]:
        """Attempts at the run: one, plus one per retry after a lock timeout."""
        connection = context.connection
        assert connection is not None, "guards apply to online migrations only"
        self.apply(connection)
        pid = connection.execute(sa.text("SELECT pg_backend_pid()")).scalar_one()
        connection.commit()
        plan = _ResumablePlan.install(context)
        for number in range(1, self.lock_retries + 2):
            attempt = Attempt(
                guards=self, context=context, plan=plan, pid=pid, number=number
            )
            yield attempt
            if attempt.retry_in is None:
                return
            time.sleep(attempt.retry_in)


@dataclass(kw_only=True)
class Attempt:
    """One try at the run. Its ``with`` block swallows a lock timeout while
    retries remain (logging the blockers), and turns the last one into a
    ``MigrationLockError`` naming them."""

    guards: MigrationGuards
    context: MigrationContext
    plan: _ResumablePlan
    pid: int
    number: int
    retry_in: float | None = None
    watch: BlockerWatch | None = None

    def __enter__(self) -> Attempt:
        connection = self.context.connection
        assert connection is not None
        self.watch = BlockerWatch.start(
            connection.engine, pid=self.pid, lock_timeout=self.guards.lock_timeout
        )
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> bool:
        assert self.watch is not None
        self.watch.stop()
        if exc is None or sqlstate_of(exc) != LOCK_NOT_AVAILABLE:
            return False
        blockers = self.watch.blockers() or self.watch.lock_holders_now()
        step = self.plan.current_step()
        at = self.database_revision()
        if self.number <= self.guards.lock_retries:
            self.retry_in = retry_delay(self.number)
            log.warning(
                "lock timeout (lock_timeout=%s) in %s; rolled back, the database "
                "stays at %s. %s. Retry %d of %d in %.1fs.",
                format_duration(self.guards.lock_timeout),
                step,
                at,
                _blocked_by(blockers),
                self.number,
                self.guards.lock_retries,
                self.retry_in,
            )
            return True
        raise MigrationLockError(
            gave_up_message(
                guards=self.guards,
                attempts=self.number,
                step=step,
                at=at,
                blockers=blockers,
            )
        ) from exc

    def database_revision(self) -> str:
        """The revision(s) in the version table now: the last completed migration."""
        connection = self.context.connection
        assert connection is not None
        if connection.in_transaction():
            connection.rollback()
        heads = self.context.get_current_heads()
        connection.commit()
        return ", ".join(heads) if heads else "base (no revision applied)"


def retry_delay(retry: int) -> float:
    """Exponential backoff with jitter, so racing deployers do not retry in step."""
    ceiling = min(MAX_RETRY_DELAY, FIRST_RETRY_DELAY * 2.0 ** (retry - 1))
    return ceiling * random.uniform(0.5, 1.0)  # noqa: S311 - timing, not secrets


# ----------------------------------------------------------- blocking sessions


@dataclass(frozen=True)
class Blocker:
    """A session in the way: enough to find it, judge it, and end it if need be."""

    pid: int
    application: str
    state: str | None
    query_start: datetime | None
    holds: str | None
    query: str

    def describe(self) -> str:
        started = (
            f", query started {self.query_start:%H:%M:%S}" if self.query_start else ""
        )
        holds = f", holds {self.holds}" if self.holds else ""
        query = mask_secrets(self.query)
        if len(query) > QUERY_SHOWN:
            query = query[: QUERY_SHOWN - 3] + "..."
        return (
            f"pid {self.pid} (application {self.application!r}, state "
            f"{self.state or 'unknown'!r}{started}{holds}): {query}"
        )


_BLOCKERS = """
WITH waiting AS (
    SELECT locktype, database, relation FROM pg_locks
     WHERE pid = :pid AND NOT granted
)
SELECT a.pid, coalesce(nullif(a.application_name, ''), '?') AS application,
       a.state, a.query_start,
       regexp_replace(coalesce(a.query, ''), '\\s+', ' ', 'g') AS query,
       (SELECT string_agg(DISTINCT l.mode || ' on ' || l.relation::regclass::text,
                          ', ')
          FROM pg_locks l JOIN waiting w
            ON l.locktype = w.locktype AND l.relation = w.relation
         WHERE l.pid = a.pid AND l.granted) AS holds
  FROM pg_stat_activity a
 WHERE a.pid = ANY (pg_blocking_pids(:pid))
 ORDER BY a.pid
"""

_TABLE_LOCK_HOLDERS = """
SELECT a.pid, coalesce(nullif(a.application_name, ''), '?') AS application,
       a.state, a.query_start,
       regexp_replace(coalesce(a.query, ''), '\\s+', ' ', 'g') AS query,
       string_agg(DISTINCT l.mode || ' on ' || l.relation::regclass::text, ', ')
         AS holds
  FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
  JOIN pg_class c ON c.oid = l.relation
 WHERE l.granted AND l.locktype = 'relation'
   AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
   AND c.relnamespace <> 'pg_catalog'::regnamespace
   AND a.pid NOT IN (:pid, pg_backend_pid())
 GROUP BY a.pid, a.application_name, a.state, a.query_start, a.query
 ORDER BY a.pid
"""


@dataclass(kw_only=True)
class BlockerWatch:
    """Samples, from a second connection, who blocks the migration's session.

    Once the lock wait has timed out the migration's session waits for nothing,
    and ``pg_blocking_pids`` can no longer say who was in the way; so while an
    attempt runs, this thread asks several times per lock_timeout and keeps the
    last answer.
    """

    engine: sa.Engine
    pid: int
    interval: float
    stopped: threading.Event = field(default_factory=threading.Event)
    latest: tuple[float, list[Blocker]] | None = None
    thread: threading.Thread | None = None

    @classmethod
    def start(cls, engine: sa.Engine, *, pid: int, lock_timeout: float) -> BlockerWatch:
        interval = min(max(lock_timeout / 4, 0.02), 0.5) if lock_timeout else 0.5
        watch = cls(engine=engine, pid=pid, interval=interval)
        watch.thread = threading.Thread(
            target=watch._run, name="migrationkit-blocker-watch", daemon=True
        )
        watch.thread.start()
        return watch

    def stop(self) -> None:
        self.stopped.set()
        if self.thread is not None:
            self.thread.join(timeout=5)

    def blockers(self) -> list[Blocker]:
        """The sessions seen blocking the migration lately (empty if none)."""
        if self.latest is None:
            return []
        seen_at, blockers = self.latest
        return blockers if time.monotonic() - seen_at < 3 + 4 * self.interval else []

    def lock_holders_now(self) -> list[Blocker]:
        """Fallback when no sample caught the wait: who holds table locks now."""
        try:
            with self.engine.connect() as conn:
                return _blockers(
                    conn.execute(sa.text(_TABLE_LOCK_HOLDERS), {"pid": self.pid})
                )
        except SQLAlchemyError as exc:
            log.debug("cannot list lock holders: %s", exc)
            return []

    def _run(self) -> None:
        try:
            with self.engine.connect() as conn:
                conn.execution_options(isolation_level="AUTOCOMMIT")
                while not self.stopped.wait(self.interval):
                    found = _blockers(
                        conn.execute(sa.text(_BLOCKERS), {"pid": self.pid})
                    )
                    if found:
                        self.latest = (time.monotonic(), found)
        except SQLAlchemyError as exc:  # diagnostics only: never fail the run
            log.debug("blocker watch stopped: %s", exc)


def _blockers(rows: Iterable[Any]) -> list[Blocker]:
    return [
        Blocker(
            pid=row.pid,
            application=row.application,
            state=row.state,
            query_start=row.query_start,
            holds=row.holds,
            query=row.query,
        )
        for row in rows
    ]


def _blocked_by(blockers: list[Blocker]) -> str:
    if not blockers:
        return "No blocking session was seen"
    return "Blocked by " + "; ".join(b.describe() for b in blockers)


def gave_up_message(
    *,
    guards: MigrationGuards,
    attempts: int,
    step: str,
    at: str,
    blockers: list[Blocker],
) -> str:
    """The failure a reviewer would write: what, who is in the way, what next."""
    lines = [
        (
            f"Migration {step} could not get a lock within lock_timeout="
            f"{format_duration(guards.lock_timeout)} in {attempts} attempt(s); its "
            "transaction was rolled back."
        ),
        f"The database is at revision {at} (the last completed migration).",
        "",
    ]
    if blockers:
        lines.append("Blocking session(s), seen while the migration waited:")
        lines.extend(f"  {b.describe()}" for b in blockers)
        terminate = "; ".join(f"SELECT pg_terminate_backend({b.pid})" for b in blockers)
        end_it = f"let that session finish, or end it ({terminate})"
    else:
        lines.append("No blocking session was seen (it may have just finished).")
        end_it = "check pg_stat_activity for long transactions"
    lines += [
        "",
        (
            f"What to do: {end_it}, then run the same alembic command again; it "
            f"resumes from {at}. To wait longer: -x lock_timeout=10s or "
            "-x lock_retries=10 (or MIGRATIONKIT_LOCK_TIMEOUT / "
            "MIGRATIONKIT_LOCK_RETRIES)."
        ),
    ]
    return "\n".join(lines)


# ---------------------------------------------------------- resumable plan


@dataclass(kw_only=True)
class _ResumablePlan:
    """The migration steps of the first attempt; a retry runs those not done.

    Alembic computes the steps from the version table at each run. For ``head``
    that already resumes correctly, but a relative target (``upgrade +2``) would
    be counted again from the new position and overshoot; so the first plan is
    kept, and finished steps are counted through ``on_version_apply``.
    """

    migrations_fn: Callable[..., Iterable[Any]]
    steps: list[Any] | None = None
    done: int = 0

    @classmethod
    def install(cls, context: MigrationContext) -> _ResumablePlan:
        original = context._migrations_fn
        assert original is not None
        plan = cls(migrations_fn=original)
        context._migrations_fn = plan.remaining
        context.on_version_apply_callbacks = (
            *context.on_version_apply_callbacks,
            plan.step_done,
        )
        return plan

    def remaining(self, heads: Any, context: MigrationContext) -> list[Any]:
        if self.steps is None:
            self.steps = list(self.migrations_fn(heads, context))
        return self.steps[self.done :]

    def step_done(self, **_: Any) -> None:
        self.done += 1

    def current_step(self) -> str:
        if self.steps is None or self.done >= len(self.steps):
            return "the migration"
        return str(self.steps[self.done])
