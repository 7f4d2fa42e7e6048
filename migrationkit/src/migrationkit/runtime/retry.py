"""Retry a migration run that timed out waiting for a lock, and say who was in the way.

With one transaction per migration, a lock timeout rolls back only the migration
that was running; the retry resumes there (``plan`` keeps the first attempt's
steps). Each attempt waits longer than the last (exponential backoff with jitter,
so racing deployers do not retry in step). When the retries are used up the
failure names the session that held the lock, the revision the database is at,
whether the failed migration had committed part of its work, and anything a
failed step left behind that could not be removed.
"""

from __future__ import annotations

import logging
import random
import time
from dataclasses import dataclass
from types import TracebackType

import sqlalchemy as sa
from alembic.runtime.environment import EnvironmentContext
from alembic.runtime.migration import MigrationContext
from sqlalchemy.exc import DBAPIError

from migrationkit.errors import MigrationLockError
from migrationkit.ledger.recorder import start_ledger
from migrationkit.pg import LOCK_NOT_AVAILABLE, server_message, sqlstate_of
from migrationkit.runtime.blockers import Blocker, BlockerWatch, terminate_statements
from migrationkit.runtime.guards import MigrationGuards
from migrationkit.runtime.journal import Leftover, RunJournal, journal_for_run
from migrationkit.runtime.plan import ResumablePlan
from migrationkit.settings import describe_duration

log = logging.getLogger(__name__)

FIRST_RETRY_DELAY = 0.5
"""Seconds before the first retry; each later one waits twice as long."""
MAX_RETRY_DELAY = 30.0


def run_with_retries(env: EnvironmentContext, guards: MigrationGuards) -> None:
    """Run what Alembic asked for, retrying a migration that timed out on a lock.

    ``env`` must be configured with a connection outside any transaction; each
    migration then commits on its own, and a retry resumes at the one that failed.
    """
    context = env.get_context()
    connection = context.connection
    assert connection is not None, "guards apply to online migrations only"
    guards.apply(connection)
    pid = connection.execute(sa.text("SELECT pg_backend_pid()")).scalar_one()
    connection.commit()
    with journal_for_run() as journal:
        # the ledger: one row per step, in the step's transaction (docs/ledger.md)
        journal.ledger = start_ledger(env, context)
        journal.connection = connection
        plan = ResumablePlan.install(
            context, journal=journal, acknowledged=guards.acknowledged
        )
        try:
            for number in range(1, guards.lock_retries + 2):
                attempt = Attempt(
                    guards=guards,
                    context=context,
                    plan=plan,
                    journal=journal,
                    pid=pid,
                    number=number,
                )
                with attempt, env.begin_transaction():
                    env.run_migrations()
                if attempt.retry_in is None:
                    return
                time.sleep(attempt.retry_in)
        finally:
            plan.uninstall()


@dataclass(kw_only=True)
class Attempt:
    """One try at the run. Its ``with`` block swallows a lock timeout while
    retries remain (logging the blockers), and turns the last one into a
    ``MigrationLockError`` naming them."""

    guards: MigrationGuards
    context: MigrationContext
    plan: ResumablePlan
    journal: RunJournal
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
        partway = self.plan.committed_partway  # read before any commit below
        blockers = self.watch.blockers() or self.watch.lock_holders_now()
        step = self.plan.current_step()
        short = self.plan.current_step(short=True)
        at = self.database_revision()
        if self.number <= self.guards.lock_retries:
            self.retry_in = retry_delay(self.number)
            log.warning(
                "lock timeout (lock_timeout=%s) in %s; %s, the database stays at %s. "
                "%s. Retry %d of %d in %.1fs%s.",
                describe_duration(self.guards.lock_timeout),
                step,
                "its open transaction was rolled back" if partway else "rolled back",
                at,
                _blocked_by(blockers),
                self.number,
                self.guards.lock_retries,
                self.retry_in,
                RERUN_PARTWAY if partway else "",
            )
            return True
        removed, remaining = self.remove_leftovers()
        raise MigrationLockError(
            gave_up_message(
                guards=self.guards,
                attempts=self.number,
                step=step,
                short=short,
                at=at,
                blockers=blockers,
                partway=partway,
                removed=removed,
                remaining=remaining,
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

    def remove_leftovers(self) -> tuple[list[Leftover], list[Leftover]]:
        """Giving up: one more bounded try at removing what failed steps left.

        Each drop waits at most ``lock_timeout`` (the session's setting), and runs
        outside a transaction, as ``DROP INDEX CONCURRENTLY`` must.
        """
        connection = self.context.connection
        assert connection is not None
        removed: list[Leftover] = []
        remaining: list[Leftover] = []
        for leftover in list(self.journal.leftovers):
            try:
                _drop(connection, leftover)
            except DBAPIError as exc:
                log.debug("could not remove %s: %s", leftover.what, exc)
                log.warning("%s is still there: %s", leftover.what, server_message(exc))
                remaining.append(leftover)
            else:
                self.journal.cleaned_up(leftover.key)
                removed.append(leftover)
        return removed, remaining


RERUN_PARTWAY = (
    "; the steps it had finished outside its transaction stay committed, and the "
    "retry runs it again from its start, skipping what is done"
)


def _drop(connection: sa.Connection, leftover: Leftover) -> None:
    if connection.in_transaction():
        connection.rollback()
    still_there = connection.execute(sa.text(leftover.exists_sql)).scalar()
    connection.commit()
    if not still_there:
        return
    level = connection.get_isolation_level()
    connection.commit()
    connection.execution_options(isolation_level="AUTOCOMMIT")
    try:
        connection.execute(sa.text(leftover.drop_sql))
    finally:
        if connection.in_transaction():
            connection.commit()
        connection.execution_options(isolation_level=level)


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
    short: str | None = None,
    partway: bool = False,
    removed: list[Leftover] | None = None,
    remaining: list[Leftover] | None = None,
) -> str:
    """The failure a reviewer would write: what, who is in the way, what next."""
    lines = [
        (
            f"Migration {step} could not get a lock within lock_timeout="
            f"{describe_duration(guards.lock_timeout)} in {attempts} attempt(s)."
        ),
        *_database_state(step=short or step, at=at, partway=partway),
    ]
    for leftover in removed or []:
        lines.append(f"The failed step left {leftover.what} behind; it was dropped.")
    for leftover in remaining or []:
        lines += [
            (
                f"Still there: {leftover.what}, left by the failed step and not "
                f"dropped in time. {leftover.effect}"
            ),
            (
                "  The next run of the migration drops and rebuilds it; to remove "
                f"it now: {leftover.drop_sql}"
            ),
        ]
    lines.append("")
    if blockers:
        lines.append("Blocking session(s), seen while the migration waited:")
        lines.extend(f"  {b.describe()}" for b in blockers)
        end_it = (
            f"let that session finish, or end it ({terminate_statements(blockers)})"
        )
    else:
        lines.append("No blocking session was seen (it may have just finished).")
        end_it = "check pg_stat_activity for long transactions"
    finish = (
        f" and finishes {short or step}, whose steps skip what is already done"
        if partway
        else ""
    )
    lines += [
        "",
        (
            f"What to do: {end_it}, then run the same alembic command again; it "
            f"resumes from {at}{finish}. To wait longer: -x lock_timeout=10s or "
            "-x lock_retries=10 (or MIGRATIONKIT_LOCK_TIMEOUT / "
            "MIGRATIONKIT_LOCK_RETRIES)."
        ),
    ]
    return "\n".join(lines)


def _database_state(*, step: str, at: str, partway: bool) -> list[str]:
    if not partway:
        return [
            "Its transaction was rolled back.",
            f"The database is at revision {at} (the last completed migration).",
        ]
    return [
        (
            f"Its open transaction was rolled back; {step} also runs steps outside "
            "a transaction (a concurrent index build, backfill batches), and those "
            "that had finished stay committed."
        ),
        (
            f"The database is at revision {at} (the last completed migration), "
            f"plus the steps of {step} that had finished."
        ),
    ]
