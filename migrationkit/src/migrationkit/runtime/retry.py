"""Retry a migration run that timed out waiting for a lock, and say who was in the way.

Alembic rereads the version table at each ``run_migrations()``, and with one
transaction per migration a retry resumes at the migration that timed out. Each
attempt waits longer than the last (exponential backoff with jitter, so racing
deployers do not retry in step). When the retries are used up the failure names
the session that held the lock, and the revision the database is at.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Iterator
from dataclasses import dataclass
from types import TracebackType

import sqlalchemy as sa
from alembic.runtime.migration import MigrationContext

from migrationkit.errors import MigrationLockError
from migrationkit.pg import LOCK_NOT_AVAILABLE, format_duration, sqlstate_of
from migrationkit.runtime.blockers import Blocker, BlockerWatch
from migrationkit.runtime.guards import MigrationGuards
from migrationkit.runtime.plan import ResumablePlan

log = logging.getLogger(__name__)

FIRST_RETRY_DELAY = 0.5
"""Seconds before the first retry; each later one waits twice as long."""
MAX_RETRY_DELAY = 30.0


def attempts(guards: MigrationGuards, context: MigrationContext) -> Iterator[Attempt]:
    """Attempts at the run: one, plus one per retry after a lock timeout."""
    connection = context.connection
    assert connection is not None, "guards apply to online migrations only"
    guards.apply(connection)
    pid = connection.execute(sa.text("SELECT pg_backend_pid()")).scalar_one()
    connection.commit()
    plan = ResumablePlan.install(context)
    for number in range(1, guards.lock_retries + 2):
        attempt = Attempt(
            guards=guards, context=context, plan=plan, pid=pid, number=number
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
    plan: ResumablePlan
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
