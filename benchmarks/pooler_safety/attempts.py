"""The attempts themselves, shared by the benchmark and tests/test_pooler.py.

Each attempt runs ``alembic upgrade head`` in-process on a miniature project (one
revision: a table and a temporary table, the shape that broke through the old
check) through PgBouncer in transaction mode, while load threads keep every
server process of the pool busy. The load clients read their own ``lock_timeout``
and ``statement_timeout`` in every transaction: any value but the server's
default means a migration's setting reached them. After each attempt the server
itself is asked for advisory locks held in the database.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from textwrap import dedent

import psycopg
import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.util import CommandError

from migrationkit.errors import TransactionPoolerError
from migrationkit.masking import Secret
from migrationkit.runtime.guards import MigrationGuards
from migrationkit.runtime.lock import migration_lock
from migrationkit.runtime.migrate import SETTINGS_ATTRIBUTE
from migrationkit.runtime.pooler import Route
from migrationkit.settings import Settings

_ENV = """\
from alembic import context

from migrationkit.runtime import run_migrations

run_migrations(context, target_metadata=None)
"""

_REVISION = '''\
"""A table, and a temporary table used in the same transaction."""

from alembic import op

revision = "p1"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("CREATE TEMPORARY TABLE pooler_scratch (n int) ON COMMIT DROP")
    op.execute("INSERT INTO pooler_scratch VALUES (1)")
    op.execute("CREATE TABLE pooler_probe AS SELECT n FROM pooler_scratch")


def downgrade() -> None:
    op.execute("DROP TABLE pooler_probe")
'''


def write_project(folder: Path) -> Path:
    """A miniature Alembic project whose env.py is migrationkit's one call."""
    (folder / "versions").mkdir(parents=True, exist_ok=True)
    (folder / "env.py").write_text(_ENV)
    (folder / "versions" / "p1_probe.py").write_text(_REVISION)
    (folder / "alembic.ini").write_text(
        dedent(
            f"""\
            [alembic]
            script_location = {folder}
            """
        )
    )
    return folder / "alembic.ini"


@dataclass
class Load:
    """Threads that run short transactions through the pooler and report what
    timeouts they saw."""

    url: str
    clients: int
    stopped: threading.Event = field(default_factory=threading.Event)
    transactions: int = 0
    foreign_settings: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    _threads: list[threading.Thread] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self) -> Load:
        for number in range(self.clients):
            thread = threading.Thread(
                target=self._run, name=f"pooler-load-{number}", daemon=True
            )
            thread.start()
            self._threads.append(thread)
        return self

    def stop(self) -> None:
        self.stopped.set()
        for thread in self._threads:
            thread.join(timeout=30)

    def _run(self) -> None:
        with psycopg.connect(self.url, prepare_threshold=None) as conn:
            while not self.stopped.is_set():
                try:
                    row = conn.execute(
                        "SELECT current_setting('lock_timeout'),"
                        " current_setting('statement_timeout'), pg_sleep(0.002)"
                    ).fetchone()
                    conn.commit()
                except psycopg.Error as exc:
                    conn.rollback()
                    with self._lock:
                        self.errors[type(exc).__name__] += 1
                    continue
                with self._lock:
                    self.transactions += 1
                    if row is None or row[:2] != ("0", "0"):
                        self.foreign_settings += 1


@dataclass
class Outcome:
    """What the attempts came to."""

    attempts: int = 0
    refused: int = 0
    """Refused before any lock was taken."""
    stopped: int = 0
    """Stopped by the server-process check after the lock was taken."""
    completed: int = 0
    """Ran to the end with every transaction in the lock holder's process."""
    leaked_locks: int = 0
    """Attempts after which an advisory lock was still held in the database."""
    other_failures: Counter[str] = field(default_factory=Counter)


def run_attempts(
    *,
    config_file: Path,
    pooled_url: str,
    server_engine: sa.Engine,
    attempts: int,
    declare_session: bool,
) -> Outcome:
    """``attempts`` upgrades through the pooler; the server is checked after each."""
    outcome = Outcome()
    settings = Settings(
        database_url=Secret(pooled_url, remember_value=False),
        pooler="session" if declare_session else "",
        connect_wait=0.0,
        lock_retries=0,
    )
    for _ in range(attempts):
        outcome.attempts += 1
        config = Config(str(config_file))
        config.attributes[SETTINGS_ATTRIBUTE] = settings
        try:
            command.upgrade(config, "head")
        except CommandError as exc:
            text = str(exc)
            if "no lock was taken" in text:
                outcome.refused += 1
            elif "Stopped the migration run before a transaction" in text:
                outcome.stopped += 1
            else:
                outcome.other_failures[text.splitlines()[0][:120]] += 1
        else:
            outcome.completed += 1
        if _advisory_locks(server_engine):
            outcome.leaked_locks += 1
            _wait_for_no_locks(server_engine)
        _reset(server_engine)
    return outcome


def run_pinned_attempts(
    *, pooled_engine: sa.Engine, server_engine: sa.Engine, attempts: int
) -> Outcome:
    """The last line of defence alone: the lock taken through the transaction
    pooler as if it were a declared session pooler whose probe was fooled, then
    five transactions of migration-like work (a temporary table, set timeouts)."""
    outcome = Outcome()
    guards = MigrationGuards(lock_timeout=2.0, statement_timeout=600.0, lock_retries=0)
    route = Route(direct=False, why="benchmark: behaviour probe skipped")
    for _ in range(attempts):
        outcome.attempts += 1
        try:
            with (
                pooled_engine.connect() as connection,
                migration_lock(connection, name="pinned", route=route),
            ):
                guards.apply(connection)
                for _step in range(5):
                    connection.execute(
                        sa.text("CREATE TEMPORARY TABLE s (n int) ON COMMIT DROP")
                    )
                    connection.execute(sa.text("INSERT INTO s VALUES (1)"))
                    connection.commit()
        except TransactionPoolerError as exc:
            if "Stopped the migration run before a transaction" in str(exc):
                outcome.stopped += 1
            else:
                outcome.other_failures[str(exc).splitlines()[0][:120]] += 1
        else:
            outcome.completed += 1
        if _advisory_locks(server_engine):
            outcome.leaked_locks += 1
            _wait_for_no_locks(server_engine)
    return outcome


def _advisory_locks(engine: sa.Engine) -> int:
    with engine.connect() as conn:
        return int(
            conn.scalar(
                sa.text(
                    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'"
                    " AND database = (SELECT oid FROM pg_database"
                    "                  WHERE datname = current_database())"
                )
            )
            or 0
        )


def _wait_for_no_locks(engine: sa.Engine, within: float = 30.0) -> None:
    """End a leaked lock's session so that the next attempt starts clean."""
    with engine.connect() as conn:
        conn.execute(
            sa.text(
                "SELECT pg_terminate_backend(pid) FROM pg_locks"
                " WHERE locktype = 'advisory' AND database = (SELECT oid FROM"
                " pg_database WHERE datname = current_database())"
            )
        )
        conn.commit()
    deadline = time.monotonic() + within
    while _advisory_locks(engine) and time.monotonic() < deadline:
        time.sleep(0.05)


def _reset(engine: sa.Engine) -> None:
    with engine.begin() as conn:
        conn.execute(sa.text("DROP TABLE IF EXISTS pooler_probe"))
        conn.execute(sa.text("DROP TABLE IF EXISTS alembic_version"))
