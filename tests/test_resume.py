"""Every step of every revision, up and down, resumes after an interruption.

For each revision found by walking the history, and each direction, a reference
run counts the step's *resume points*: the statements that follow a commit (or a
statement run in autocommit mode, which commits by itself), and the statement that
records the new revision. Then, for each point, on a fresh copy of the database
taken just before the step:

* **killed**: the migration's session is terminated from another session right
  at that point (what a ``kill -9`` of the deployer leaves), and a rerun of the
  same command must finish the step;
* **process killed**: once per step that commits part-way, the ``alembic``
  process itself is killed (SIGKILL) at its last such point, and a rerun must
  finish the step;
* **lock timeout, given up**: the statement at that point waits for a lock held
  by the test until ``lock_timeout``, with no retries left; the failure message
  must name the revision the database is at and say truly whether part of the
  step stayed committed. The rerun is cut short the same way at its first point,
  with a retry left: the retry, in the same session, must finish the step.

Each finished database must equal the reference run's: same schema, same rows.
Interruptions come from SQLAlchemy events at exact statements, never from timing.
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import signal
import subprocess
import sys
import textwrap
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory

from migrationkit.errors import MigrationKitError, MigrationLockError
from migrationkit.runtime.review import DESTROYS_FLAGGED
from migrationkit.testing.server import TestServer
from tests.helpers import REPO

pytestmark = pytest.mark.slow  # kills real processes at every step, up and down

GATE_KEY = 5_550_123
"""Advisory lock the test holds so that a statement it picks times out."""
X_ARGUMENTS = ["backfill_batch_size=100", "lock_timeout=200ms"]
"""Backfills of the rows below take two batches: a resume point between them."""
USERS = 150
EVENTS = 120
IP_TEXTS = ["10.0.0.1", "2001:DB8::1", "not-an-ip", "", None, "192.168.0.0/16"]


def project_config(**x: str) -> Config:
    """The repository's Alembic project without alembic.ini: no logging setup.

    Every revision that destroys flagged data is acknowledged: the flags are the
    contract tests' subject (test_contract_acknowledgement.py), not this one's.
    """
    config = Config()
    config.set_main_option("script_location", str(REPO / "alembic"))
    config.set_main_option("prepend_sys_path", str(REPO))
    config.set_main_option("path_separator", "os")
    acknowledged = ",".join(_destroying_revisions(config))
    config.cmd_opts = argparse.Namespace(
        x=[
            *X_ARGUMENTS,
            *([f"acknowledge={acknowledged}"] if acknowledged else []),
            *(f"{key}={value}" for key, value in x.items()),
        ]
    )
    return config


def _destroying_revisions(config: Config) -> list[str]:
    return [
        script.revision
        for script in ScriptDirectory.from_config(config).walk_revisions()
        if getattr(script.module, DESTROYS_FLAGGED, None)
    ]


def history() -> list[tuple[str, str]]:
    """(from, to) for every revision, base first, found by walking the scripts."""
    script = ScriptDirectory.from_config(project_config())
    steps = []
    for revision in reversed(list(script.walk_revisions())):
        down = revision.down_revision
        assert down is None or isinstance(down, str), "a linear history"
        steps.append((down or "base", revision.revision))
    return steps


@dataclass(frozen=True)
class Move:
    """One step of the history in one direction."""

    direction: str
    start: str
    target: str

    def run(self, config: Config) -> None:
        if self.direction == "upgrade":
            command.upgrade(config, self.target)
        else:
            command.downgrade(config, self.target)


MOVES = [
    move
    for start, end in history()
    for move in (Move("upgrade", start, end), Move("downgrade", end, start))
]


# ------------------------------------------------------------ resume points


@dataclass(frozen=True)
class Point:
    number: int
    statement: str
    after_commit: bool
    """Whether the step had committed anything before this point."""


_VERSION_WRITE = re.compile(r"\s*(INSERT INTO|UPDATE|DELETE FROM) alembic_version\b")


class _StepStarts(logging.Handler):
    def __init__(self, started: Callable[[], None]) -> None:
        super().__init__(logging.INFO)
        self.started = started

    def emit(self, record: logging.LogRecord) -> None:
        if record.getMessage().startswith("Running "):
            self.started()


@dataclass
class Interrupter:
    """Finds a step's resume points on a connection; interrupts at point ``at``."""

    at: int | None = None
    interrupt: Callable[[Any], None] | None = None
    points: list[Point] = field(default_factory=list)
    fired: bool = False
    _counting: bool = False
    _boundary: bool = False
    _committed: bool = False

    def step_started(self) -> None:
        if not self.fired:
            self.points.clear()
            self._counting, self._boundary, self._committed = True, False, False

    def before(
        self, _conn: sa.Connection, cursor: Any, statement: str, *_: Any
    ) -> None:
        if not self._counting:
            return
        version_write = _VERSION_WRITE.match(statement) is not None
        if not (self._boundary or version_write):
            return
        point = Point(len(self.points) + 1, statement.strip()[:60], self._committed)
        self.points.append(point)
        self._boundary = False
        self._counting = not version_write
        if point.number == self.at and self.interrupt is not None:
            self._counting, self.fired = False, True
            self.interrupt(cursor)

    def after(self, conn: sa.Connection, _cursor: Any, statement: str, *_: Any) -> None:
        autocommit = conn.connection.dbapi_connection.autocommit  # type: ignore[union-attr]  # psycopg's attribute
        if self._counting and autocommit and not _reads(statement):
            self._boundary = self._committed = True

    def commit(self, _conn: sa.Connection) -> None:
        if self._counting:
            self._boundary = self._committed = True

    @contextmanager
    def installed_on(self, connection: sa.Connection) -> Iterator[Interrupter]:
        logger = logging.getLogger("alembic.runtime.migration")
        handler, level = _StepStarts(self.step_started), logger.level
        logger.setLevel(logging.INFO)
        logger.addHandler(handler)
        listeners: list[tuple[str, Callable[..., None]]] = [
            ("before_cursor_execute", self.before),
            ("after_cursor_execute", self.after),
            ("commit", self.commit),
        ]
        for name, listener in listeners:
            sa.event.listen(connection, name, listener)
        try:
            yield self
        finally:
            logger.removeHandler(handler)
            logger.setLevel(level)
            for name, listener in listeners:
                sa.event.remove(connection, name, listener)


def _reads(statement: str) -> bool:
    return statement.lstrip().upper().startswith(("SELECT", "SHOW"))


# ------------------------------------------------------------------ databases


def load_data(conn: sa.Connection) -> None:
    """Rows for the tables that exist and are still empty, as the schema is now."""
    tables = set(sa.inspect(conn).get_table_names())
    if "users" in tables and not conn.scalar(sa.text("SELECT count(*) FROM users")):
        names = ["ann", "Bob", "carol.lee", "dave"]
        conn.execute(
            sa.text(
                "INSERT INTO users (id, email, is_active) VALUES (:id, :email, true)"
            ),
            [
                {
                    "id": uuid.uuid5(uuid.NAMESPACE_DNS, f"user{i}"),
                    "email": f"{names[i % 4]}{i % 40}@d{i}.example",
                }
                for i in range(USERS)
            ],
        )
    if "login_events" in tables and not conn.scalar(
        sa.text("SELECT count(*) FROM login_events")
    ):
        conn.execute(
            sa.text(
                "INSERT INTO login_events (user_id, ip_address)"
                " SELECT id, :ip FROM users ORDER BY id LIMIT 1"
            ),
            [{"ip": IP_TEXTS[i % len(IP_TEXTS)]} for i in range(EVENTS)],
        )
    conn.commit()


class Databases:
    """A template database at every revision (with data), and copies of them."""

    def __init__(self, server: TestServer) -> None:
        self.server = server
        self.admin = server.engine().execution_options(isolation_level="AUTOCOMMIT")
        self.prefix = f"mk_resume_{uuid.uuid4().hex[:8]}"
        self.templates: dict[str, str] = {}

    def template_at(self, revision: str) -> str:
        if not self.templates:
            self._build()
        return self.templates[revision]

    def _build(self) -> None:
        build = f"{self.prefix}_build"
        self._execute(f'CREATE DATABASE "{build}" TEMPLATE template0')
        self._snapshot(build, "base")
        for _, revision in history():
            with self.connect(build) as conn:
                config = project_config()
                config.attributes["connection"] = conn
                command.upgrade(config, revision)
                load_data(conn)
            self._snapshot(build, revision)
        self._execute(f'DROP DATABASE "{build}" WITH (FORCE)')

    def _snapshot(self, source: str, revision: str) -> None:
        name = f"{self.prefix}_at_{revision}"
        self._execute(f'CREATE DATABASE "{name}" TEMPLATE "{source}"')
        self.templates[revision] = name

    @contextmanager
    def copy_at(self, revision: str) -> Iterator[str]:
        name = f"{self.prefix}_{uuid.uuid4().hex[:8]}"
        self._execute(
            f'CREATE DATABASE "{name}" TEMPLATE "{self.template_at(revision)}"'
        )
        try:
            yield name
        finally:
            self._execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    @contextmanager
    def connect(self, database: str) -> Iterator[sa.Connection]:
        engine = self.server.engine(self.server.admin.url.set(database=database))
        try:
            with engine.connect() as conn:
                yield conn
        finally:
            engine.dispose()

    def _execute(self, sql: str) -> None:
        with self.admin.connect() as conn:
            conn.execute(sa.text(sql))

    def drop_all(self) -> None:
        for name in self.templates.values():
            self._execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        self.admin.dispose()


@pytest.fixture(scope="module")
def databases(server: TestServer) -> Iterator[Databases]:
    made = Databases(server)
    yield made
    made.drop_all()


def state_of(conn: sa.Connection) -> dict[str, Any]:
    """Schema and rows of the public schema, comparable across databases."""
    queries = {
        "version": "SELECT version_num FROM alembic_version",
        "columns": (
            "SELECT table_name, column_name, data_type, is_nullable, column_default"
            " FROM information_schema.columns WHERE table_schema = 'public'"
        ),
        "constraints": (
            "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid),"
            " convalidated FROM pg_constraint"
            " WHERE connamespace = 'public'::regnamespace"
        ),
        "indexes": (
            "SELECT indexrelid::regclass::text, pg_get_indexdef(indexrelid),"
            " indisvalid, indisready FROM pg_index"
            " WHERE indrelid IN (SELECT oid FROM pg_class"
            "                    WHERE relnamespace = 'public'::regnamespace)"
        ),
        "triggers": (
            "SELECT tgname, pg_get_triggerdef(oid) FROM pg_trigger"
            " WHERE NOT tgisinternal"
        ),
        "functions": (
            "SELECT proname, pg_get_functiondef(oid) FROM pg_proc"
            " WHERE pronamespace = 'public'::regnamespace"
        ),
    }
    state: dict[str, Any] = {}
    # The ledger records how each run went (times, retries): not part of the state.
    tables = [
        name
        for name in sa.inspect(conn).get_table_names()
        if not name.startswith("alembic_version_ledger")
    ]
    for name, sql in queries.items():
        if name == "version" and "alembic_version" not in tables:
            state[name] = []
            continue
        state[name] = sorted(tuple(map(str, row)) for row in conn.execute(sa.text(sql)))
    for table in tables:
        state[f"rows of {table}"] = conn.scalar(
            sa.text(
                f"SELECT md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), ''))"
                f" FROM {table} AS t"
            )
        )
    conn.commit()
    return state


# ---------------------------------------------------------------------- runs


@dataclass
class Run:
    """One command on a copy of the database at the move's start."""

    move: Move
    databases: Databases
    database: str

    def go(self, *, interrupter: Interrupter | None = None, **x: str) -> None:
        with self.databases.connect(self.database) as conn:
            config = project_config(**x)
            config.attributes["connection"] = conn
            if interrupter is None:
                self.move.run(config)
                return
            with interrupter.installed_on(conn):
                self.move.run(config)

    def state(self) -> dict[str, Any]:
        with self.databases.connect(self.database) as conn:
            return state_of(conn)


def at_revision(revision: str) -> list[tuple[str, ...]]:
    """The version table's rows at ``revision``, as ``state_of`` shows them."""
    return [] if revision == "base" else [(revision,)]


@contextmanager
def gate_held(databases: Databases, database: str) -> Iterator[None]:
    """Hold GATE_KEY so that ``wait_at_gate`` times out on ``lock_timeout``."""
    with databases.connect(database) as holder:
        holder.execute(sa.text("SELECT pg_advisory_lock(:k)"), {"k": GATE_KEY})
        holder.commit()
        yield


def wait_at_gate(cursor: Any) -> None:
    """Make the statement about to run wait for the gate, until lock_timeout."""
    cursor.execute("SELECT pg_advisory_xact_lock(%s)", (GATE_KEY,))


def killing_from(killer: sa.Connection) -> Callable[[Any], None]:
    """Terminate the session about to run the statement, and wait until it is gone."""

    def kill(cursor: Any) -> None:
        killer.execute(
            sa.text("SELECT pg_terminate_backend(:pid, 10000)"),
            {"pid": cursor.connection.info.backend_pid},
        )
        killer.commit()

    return kill


KILLED_PROCESS = textwrap.dedent(
    """
    import os, signal, sys
    import sqlalchemy as sa
    from tests.test_resume import Interrupter, Move, project_config

    direction, start, target, at = sys.argv[1:]
    engine = sa.create_engine(os.environ["RESUME_DATABASE_URL"], poolclass=sa.NullPool)
    with engine.connect() as conn:
        config = project_config()
        config.attributes["connection"] = conn
        interrupter = Interrupter(
            at=int(at), interrupt=lambda _: os.kill(os.getpid(), signal.SIGKILL)
        )
        with interrupter.installed_on(conn):
            Move(direction, start, target).run(config)
    """
)


def kill_the_process_at(run: Run, point: Point) -> subprocess.CompletedProcess[str]:
    """Run the move in a process of its own, SIGKILLed at ``point``."""
    url = run.databases.server.admin.url.set(database=run.database)
    env = {
        **os.environ,
        "RESUME_DATABASE_URL": url.render_as_string(hide_password=False),
    }
    move = run.move
    return subprocess.run(
        [
            sys.executable,
            "-c",
            KILLED_PROCESS,
            move.direction,
            move.start,
            move.target,
            str(point.number),
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def reference(move: Move, databases: Databases) -> tuple[dict[str, Any], list[Point]]:
    """The state an uninterrupted run leaves, and the step's resume points."""
    with databases.copy_at(move.start) as database:
        run = Run(move, databases, database)
        counter = Interrupter()
        run.go(interrupter=counter)
        return run.state(), counter.points


@pytest.mark.parametrize("move", MOVES, ids=lambda m: f"{m.direction}-{m.target}")
def test_every_step_resumes_after_a_kill_or_a_lock_timeout(
    move: Move, databases: Databases, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="migrationkit")
    finished, points = reference(move, databases)
    assert finished["version"] == at_revision(move.target)
    assert points, "the step records its revision: at least one resume point"
    assert _VERSION_WRITE.match(points[-1].statement), points
    shown_at = move.start if move.start != "base" else "base (no revision applied)"

    partial = [point for point in points if point.after_commit]
    if partial:
        with databases.copy_at(move.start) as database:  # the process killed
            run = Run(move, databases, database)
            killed = kill_the_process_at(run, partial[-1])
            assert killed.returncode == -signal.SIGKILL, killed.stderr
            assert run.state()["version"] == at_revision(move.start)
            run.go()
            assert run.state() == finished, f"killed at {partial[-1]}"

    for point in points:
        where = f"{move.direction} to {move.target}, {point}"

        with databases.copy_at(move.start) as database:  # killed
            run = Run(move, databases, database)
            with databases.connect("postgres") as killer:
                interrupter = Interrupter(
                    at=point.number, interrupt=killing_from(killer)
                )
                with pytest.raises(MigrationKitError) as lost:
                    run.go(interrupter=interrupter)
            assert interrupter.fired, where
            assert run.state()["version"] == at_revision(move.start), where
            message = str(lost.value)
            assert "Lost the connection to PostgreSQL during migration" in message
            assert f"the database is at revision {shown_at}." in message, message
            kept = "had finished stay committed" in message
            assert kept == point.after_commit, f"{where}: {message}"
            run.go()
            assert run.state() == finished, where

        with databases.copy_at(move.start) as database:  # lock timeout, given up
            run = Run(move, databases, database)
            interrupter = Interrupter(at=point.number, interrupt=wait_at_gate)
            with (
                gate_held(databases, database),
                pytest.raises(MigrationLockError) as failure,
            ):
                run.go(interrupter=interrupter, lock_retries="0")
            assert run.state()["version"] == at_revision(move.start), where
            message = str(failure.value)
            assert f"The database is at revision {shown_at} (the last" in message
            if point.after_commit:
                assert "those that had finished stay committed" in message, where
            else:
                assert "Its transaction was rolled back." in message, where

            # The rerun times out too, at its first point, and its retry (in the
            # same session) finishes the step from what the first run left.
            interrupter = Interrupter(at=1, interrupt=wait_at_gate)
            with gate_held(databases, database):
                run.go(interrupter=interrupter, lock_retries="1")
            assert interrupter.fired, where
            assert "Retry 1 of 1" in caplog.text, where
            assert run.state() == finished, where
