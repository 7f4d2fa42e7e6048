"""Who is in the migration's way: sessions holding the lock it waits for.

Once a lock wait has timed out the migration's session waits for nothing, and
``pg_blocking_pids`` can no longer say who was in the way; so while an attempt
runs, a watcher thread on a second connection samples the blockers and keeps the
last answer for the message.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import SQLAlchemyError

from migrationkit.database import mask_secrets
from migrationkit.masking import printable

log = logging.getLogger(__name__)

QUERY_SHOWN = 120
"""Characters of a blocking session's query shown in messages."""

_MENTIONS_PASSWORD = re.compile(r"password", re.IGNORECASE)
_STATEMENT_KIND = re.compile(
    r"^\s*(?:(?:/\*.*?\*/|--[^\n]*\n)\s*)*(?P<kind>[A-Za-z]+(?:\s+[A-Za-z]+)?)", re.S
)


def shown_query(query: str) -> str:
    """A session's query as messages show it: masked, short, printable.

    A query that mentions a password anywhere shows only its statement kind:
    PostgreSQL spells a string in too many ways (``U&'...'``, ``E'..\\'..'``,
    comments between keyword and value, dollar quotes) for a pattern to be sure
    it masked the value, and the holder's query is repeated in every warning.
    """
    if _MENTIONS_PASSWORD.search(query):
        kind = _STATEMENT_KIND.match(query)
        what = kind["kind"].upper() if kind else "a statement"
        return printable(f"{what} ... (not shown: it mentions a password)")
    shown = mask_secrets(query)
    if len(shown) > QUERY_SHOWN:
        shown = shown[: QUERY_SHOWN - 3] + "..."
    return printable(shown)


@dataclass(frozen=True)
class Blocker:
    """A session in the way: enough to find it, judge it, and end it if need be."""

    pid: int
    application: str
    state: str | None
    query_start: datetime | None
    holds: str | None
    query: str
    user: str | None = None
    database: str | None = None
    connected: datetime | None = None

    def describe(self) -> str:
        """One line for people; every text from the database made printable."""
        who = [f"application {printable(self.application)!r}"]
        if self.user:
            who.append(f"user {printable(self.user)!r}")
        if self.database:
            who.append(f"database {printable(self.database)!r}")
        if self.connected:
            who.append(f"connected {self.connected:%H:%M:%S}")
        started = (
            f", query started {self.query_start:%H:%M:%S}" if self.query_start else ""
        )
        holds = f", holds {printable(self.holds)}" if self.holds else ""
        return (
            f"pid {self.pid} ({', '.join(who)}, state "
            f"{self.state or 'unknown'!r}{started}{holds}): {shown_query(self.query)}"
        )


def terminate_statements(blockers: Sequence[Blocker]) -> str:
    """The statements that end these sessions, for the "what to do" line."""
    return "; ".join(f"SELECT pg_terminate_backend({b.pid})" for b in blockers)


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
                return blockers_from(
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
                    found = blockers_from(
                        conn.execute(sa.text(_BLOCKERS), {"pid": self.pid})
                    )
                    if found:
                        self.latest = (time.monotonic(), found)
        except SQLAlchemyError as exc:  # diagnostics only: never fail the run
            log.debug("blocker watch stopped: %s", exc)


def blockers_from(rows: Iterable[Any]) -> list[Blocker]:
    """Blockers from rows of pg_stat_activity columns named as in ``_BLOCKERS``
    (``holds``, ``user_name``, ``database`` and ``connected`` are optional)."""
    return [
        Blocker(
            pid=row.pid,
            application=row.application,
            state=row.state,
            query_start=row.query_start,
            holds=getattr(row, "holds", None),
            query=row.query,
            user=getattr(row, "user_name", None),
            database=getattr(row, "database", None),
            connected=getattr(row, "connected", None),
        )
        for row in rows
    ]
