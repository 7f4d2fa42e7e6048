"""Two deployers migrating at once apply each revision exactly once.

The end-to-end test makes the overlap certain rather than likely: the revision
it adds logs its run and then waits at a gate (an advisory lock the test holds),
so the test opens the gate only after it has seen the other ``alembic upgrade
head`` queue up behind the migration lock.
"""

from __future__ import annotations

import contextlib
import logging
import subprocess
import threading
import time
from collections.abc import Callable
from typing import IO

import pytest
import sqlalchemy as sa
from alembic.config import Config
from alembic.script import ScriptDirectory

from migrationkit.errors import MigrationLockError
from migrationkit.runtime.lock import advisory_lock_key, migration_lock
from migrationkit.testing.server import TestServer
from tests.helpers import Project, current_revision, failed, ok, only_first_revision

GATE_KEY = 7_340_021  # any bigint other than the migration lock's key
WAIT_LIMIT_S = 90

RACING_REVISION = '''"""log each run, then wait at the test's gate

Revision ID: race1
Revises: {down}
"""

from collections.abc import Sequence

from alembic import op

revision: str = "race1"
down_revision: str | Sequence[str] | None = {down!r}
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute("INSERT INTO migration_runs (backend_pid) VALUES (pg_backend_pid())")
    # The gate is a lock wait by design: exempt it from the migration guards.
    op.execute("SET LOCAL lock_timeout = 0")
    op.execute("SET LOCAL statement_timeout = 0")
    op.execute("SELECT pg_advisory_xact_lock_shared({gate})")
    op.execute("SELECT pg_sleep(1)")


def downgrade() -> None:
    pass
'''


def advisory_waiters(engine: sa.Engine) -> int:
    """Sessions of this database blocked on an advisory lock right now."""
    with engine.connect() as conn:
        count: int = conn.execute(
            sa.text(
                "SELECT count(*) FROM pg_stat_activity"
                " WHERE datname = current_database()"
                "   AND wait_event_type = 'Lock' AND wait_event = 'advisory'"
            )
        ).scalar_one()
        return count


class CapturedRun:
    """A running command whose output is read as it comes (pipes never fill)."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.process = process
        self.stdout: list[str] = []
        self.stderr: list[str] = []
        self._readers = [
            threading.Thread(target=self._drain, args=(stream, sink), daemon=True)
            for stream, sink in (
                (process.stdout, self.stdout),
                (process.stderr, self.stderr),
            )
        ]
        for reader in self._readers:
            reader.start()

    @staticmethod
    def _drain(stream: IO[str] | None, sink: list[str]) -> None:
        assert stream is not None
        sink.extend(iter(stream.readline, ""))

    def wait(self, timeout: float) -> int:
        try:
            code = self.process.wait(timeout=timeout)
        finally:
            if self.process.poll() is None:
                self.process.kill()
                self.process.wait()
            for reader in self._readers:
                reader.join(timeout=10)
        return code

    @property
    def output(self) -> str:
        return "".join(self.stdout) + "".join(self.stderr)


def wait_until(
    condition: Callable[[], bool], *, what: str, runs: list[CapturedRun]
) -> None:
    deadline = time.monotonic() + WAIT_LIMIT_S
    while not condition():
        if any(r.process.poll() is not None for r in runs) or (
            time.monotonic() > deadline
        ):
            for run in runs:
                run.process.kill()
            outputs = "\n".join(f"--- run {i}\n{r.output}" for i, r in enumerate(runs))
            pytest.fail(f"never saw {what}\n{outputs}")
        time.sleep(0.1)


def test_two_upgrades_at_once_apply_each_revision_once(
    project: Project, engine: sa.Engine
) -> None:
    script = ScriptDirectory.from_config(Config(str(project.path / "alembic.ini")))
    head = script.get_current_head()
    (project.path / "alembic" / "versions" / "race1_log_and_wait.py").write_text(
        RACING_REVISION.format(down=head, gate=GATE_KEY)
    )
    with engine.begin() as conn:
        conn.execute(
            sa.text("CREATE TABLE migration_runs (id serial, backend_pid int)")
        )

    def one_waits_for_the_other() -> bool:
        told = any("another migration is running" in "".join(r.stderr) for r in runs)
        return told and advisory_waiters(engine) >= 1

    with engine.connect() as gate:
        gate.execute(sa.text("SELECT pg_advisory_lock(:k)"), {"k": GATE_KEY})
        gate.commit()
        runs = [CapturedRun(project.popen_alembic("upgrade", "head")) for _ in range(2)]
        try:
            # One run stops at the gate, holding the migration lock; the other
            # must then report that it waits. Only after that may the first go on.
            wait_until(
                one_waits_for_the_other,
                what="one run at the gate and the other waiting for the lock",
                runs=runs,
            )
        finally:
            gate.execute(sa.text("SELECT pg_advisory_unlock(:k)"), {"k": GATE_KEY})
            gate.commit()
        codes = [run.wait(timeout=WAIT_LIMIT_S) for run in runs]

    assert codes == [0, 0], "\n".join(run.output for run in runs)
    with engine.connect() as conn:
        applied = conn.execute(
            sa.text("SELECT count(*) FROM migration_runs")
        ).scalar_one()
        version = conn.execute(sa.text("SELECT version_num FROM alembic_version")).all()
    assert applied == 1, "the racing revision ran more than once"
    assert [row[0] for row in version] == ["race1"]
    waited = [r for r in runs if "another migration is running" in r.output]
    assert len(waited) == 1, [r.output for r in runs]
    assert "waiting for it to finish (up to 10min" in waited[0].output
    ran = [r for r in runs if "-> race1" in r.output]
    assert len(ran) == 1, "exactly one run applies the revision"
    assert ran[0] is not waited[0]


# -- the lock itself, in-process --------------------------------------------------


def lock_is_free(engine: sa.Engine, name: str) -> bool:
    key = advisory_lock_key(name)
    with engine.connect() as conn:
        got = conn.execute(
            sa.text("SELECT pg_try_advisory_lock(:k)"), {"k": key}
        ).scalar_one()
        if got:
            conn.execute(sa.text("SELECT pg_advisory_unlock(:k)"), {"k": key})
        conn.commit()
        return bool(got)


class MigrationBroke(Exception):  # noqa: N818  (named for what happened)
    pass


def test_lock_is_released_when_the_run_fails(engine: sa.Engine) -> None:
    def failing_run(conn: sa.Connection) -> None:
        with migration_lock(conn, name="fails"):
            assert not lock_is_free(engine, "fails")
            conn.execute(sa.text("SELECT 1"))  # leaves a transaction open
            raise MigrationBroke

    with engine.connect() as conn:
        with pytest.raises(MigrationBroke):
            failing_run(conn)
        assert not conn.in_transaction()
    assert lock_is_free(engine, "fails")


def test_broken_connection_does_not_hide_the_original_error(
    engine: sa.Engine,
) -> None:
    """The run's own error surfaces, not a second one from releasing the lock."""

    def run_whose_session_dies(conn: sa.Connection, killer: sa.Connection) -> None:
        with migration_lock(conn, name="broken"):
            pid = conn.execute(sa.text("SELECT pg_backend_pid()")).scalar_one()
            killer.execute(sa.text("SELECT pg_terminate_backend(:p)"), {"p": pid})
            killer.commit()
            raise MigrationBroke

    with (
        engine.connect() as conn,
        engine.connect() as killer,
        pytest.raises(MigrationBroke),
    ):
        run_whose_session_dies(conn, killer)
    assert lock_is_free(engine, "broken"), "the lock died with its session"


def test_waiting_run_names_the_holder_and_holds_no_snapshot(
    engine: sa.Engine, caplog: pytest.LogCaptureFixture
) -> None:
    """The second run says who it waits for, and waits without blocking in SQL.

    A session blocked inside ``pg_advisory_lock`` would hold a snapshot that a
    ``CREATE INDEX CONCURRENTLY`` in the running migration must wait for: a
    deadlock. So while it waits, no session may sit in a lock wait.
    """
    caplog.set_level(logging.INFO, logger="migrationkit")
    key = advisory_lock_key("held")
    done = threading.Event()
    errors: list[BaseException] = []

    def second_run() -> None:
        try:
            with engine.connect() as conn, migration_lock(conn, name="held"):
                done.set()
        except Exception as exc:  # noqa: BLE001  (reported by the main thread)
            errors.append(exc)

    with engine.connect() as holder:
        holder.execute(sa.text("SET application_name = 'first-deployer'"))
        holder_pid = holder.execute(sa.text("SELECT pg_backend_pid()")).scalar_one()
        database = holder.execute(sa.text("SELECT current_database()")).scalar_one()
        holder.execute(sa.text("SELECT pg_advisory_lock(:k)"), {"k": key})
        holder.commit()
        waiter = threading.Thread(target=second_run, daemon=True)
        waiter.start()
        try:
            deadline = time.monotonic() + WAIT_LIMIT_S
            while "waiting for it" not in caplog.text and time.monotonic() < deadline:
                time.sleep(0.05)
            for _ in range(5):
                assert advisory_waiters(engine) == 0, "waiting inside SQL"
                time.sleep(0.1)
            assert not done.is_set(), "the second run did not wait for the lock"
        finally:
            holder.execute(sa.text("SELECT pg_advisory_unlock(:k)"), {"k": key})
            holder.commit()
    waiter.join(timeout=WAIT_LIMIT_S)
    assert not errors, errors
    assert done.is_set()
    seen = caplog.text
    assert f"another migration is running on database {database!r}" in seen, seen
    assert f"pid {holder_pid} (application 'first-deployer', user " in seen, seen
    assert f"database {database!r}, connected " in seen, seen
    assert "up to 10min: migration_lock_timeout" in seen, seen
    assert "got the migration lock after" in seen, seen
    assert lock_is_free(engine, "held")


def hold_lock(conn: sa.Connection, name: str, *, application: str) -> int:
    """Take the migration lock ``name`` in ``conn``; return the session's pid."""
    conn.execute(
        sa.text("SELECT set_config('application_name', :a, false)"), {"a": application}
    )
    conn.execute(sa.text("SELECT pg_advisory_lock(:k)"), {"k": advisory_lock_key(name)})
    pid = int(conn.execute(sa.text("SELECT pg_backend_pid()")).scalar_one())
    conn.commit()
    return pid


def test_the_wait_is_bounded_and_names_only_this_databases_holder(
    server: TestServer, engine: sa.Engine
) -> None:
    """Advisory locks are per database, but pg_locks lists every database's: a
    holder of the same key elsewhere is neither waited for nor named."""
    with server.fresh_database() as other, contextlib.ExitStack() as stack:
        other_engine = server.engine(other.url)
        stack.callback(other_engine.dispose)
        elsewhere = stack.enter_context(other_engine.connect())
        hold_lock(elsewhere, "bounded", application="other-project")
        with engine.connect() as conn, migration_lock(conn, name="bounded", timeout=1):
            pass  # the same key held in another database is no conflict

        here = stack.enter_context(engine.connect())
        holder_pid = hold_lock(here, "bounded", application="first-deployer")
        with engine.connect() as conn:
            database = conn.execute(sa.text("SELECT current_database()")).scalar_one()
            with (
                pytest.raises(MigrationLockError) as failure,
                migration_lock(conn, name="bounded", timeout=0.5),
            ):
                pytest.fail("the lock was taken although another session holds it")
            assert not conn.in_transaction()

    message = str(failure.value)
    assert message.startswith(
        f"Another migration still holds the migration lock of database {database!r}"
        " (lock 'bounded') after migration_lock_timeout=500ms; this run changed "
        "nothing."
    ), message
    assert f"pid {holder_pid} (application 'first-deployer'" in message
    assert "other-project" not in message
    assert message.count("pid ") == 1, message
    assert f"SELECT pg_terminate_backend({holder_pid})" in message
    assert "-x migration_lock_timeout=30min" in message


def test_release_leaves_the_lock_free_even_if_the_run_took_it_again(
    engine: sa.Engine, caplog: pytest.LogCaptureFixture
) -> None:
    """Session advisory locks stack: one unlock would leave a re-taken lock held."""
    key = advisory_lock_key("stacked")
    with engine.connect() as conn:
        with migration_lock(conn, name="stacked"):
            conn.execute(sa.text("SELECT pg_advisory_lock(:k)"), {"k": key})
            conn.commit()
        assert lock_is_free(engine, "stacked")
        assert "taken 1 more time(s) in this session" in caplog.text

        with migration_lock(conn, name="stacked"):
            conn.execute(sa.text("SELECT pg_advisory_unlock_all()"))
            conn.commit()
        assert "no longer held when the run ended" in caplog.text
    assert lock_is_free(engine, "stacked")


def test_read_only_commands_do_not_wait_for_a_running_migration(
    project: Project, engine: sa.Engine
) -> None:
    """``alembic current`` takes no migration lock: it answers while one is held."""
    only_first_revision(project)
    ok(project.alembic("upgrade", "head"))
    with engine.connect() as holder:
        hold_lock(holder, "alembic_version", application="running-migration")
        env = project.env(MIGRATIONKIT_MIGRATION_LOCK_TIMEOUT="1h")
        current = ok(project.alembic("current", env=env))
        assert current.stdout.strip().startswith("001")
        assert "another migration is running" not in current.stderr

        # A command that writes does wait, and gives up when told to.
        message = failed(
            project.alembic("-x", "migration_lock_timeout=1s", "downgrade", "base")
        )
        assert "still holds the migration lock" in message
        assert "application 'running-migration'" in message
    assert current_revision(project).startswith("001")
