"""Lock and statement timeouts, retry on lock timeout, and the failure that names
the blocking session: real Alembic runs against a table another session locks."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from migrationkit.errors import MigrationKitError
from migrationkit.pg import format_duration
from migrationkit.runtime.guards import DEADLOCK_TIMEOUT, MigrationGuards
from migrationkit.runtime.retry import retry_delay
from migrationkit.settings import Settings, describe_duration, parse_duration
from migrationkit.verify.catalog import invalid_indexes
from tests.helpers import (
    Project,
    current_revision,
    failed,
    index_state,
    ok,
    only_first_revision,
    upgrade_to_users,
    wait_for,
    write_revision,
)

FAST = ("-x", "lock_timeout=200ms")


@pytest.fixture
def holder(engine: sa.Engine) -> Iterator[sa.Connection]:
    """A session of its own, named ``lock-holder``, closed after the test."""
    with engine.connect() as conn:
        conn.execute(sa.text("SET application_name = 'lock-holder'"))
        conn.commit()
        yield conn


def hold_users_lock(holder: sa.Connection) -> int:
    """``LOCK TABLE users IN ACCESS EXCLUSIVE MODE`` in an open transaction."""
    pid = int(holder.execute(sa.text("SELECT pg_backend_pid()")).scalar_one())
    holder.execute(sa.text("LOCK TABLE users IN ACCESS EXCLUSIVE MODE"))
    return pid


def wait_until_blocked_by(
    engine: sa.Engine, pid: int, timeout: float = 60, query: str = ""
) -> None:
    """Return once some session (running ``query``...) is seen waiting for ``pid``."""
    deadline = time.monotonic() + timeout
    with engine.connect() as conn:
        conn.execution_options(isolation_level="AUTOCOMMIT")
        while time.monotonic() < deadline:
            waiting = conn.execute(
                sa.text(
                    "SELECT count(*) FROM pg_stat_activity"
                    " WHERE :pid = ANY (pg_blocking_pids(pid))"
                    "   AND strpos(query, :query) > 0"
                ),
                {"pid": pid, "query": query},
            ).scalar_one()
            if waiting:
                return
            time.sleep(0.01)
    pytest.fail(f"no session waited for pid {pid} within {timeout}s")


def wait_until_retried(engine: sa.Engine, pid: int, timeout: float = 60) -> None:
    """Return once a session waiting for ``pid`` has timed out and waits again.

    The retry's statements start after the first attempt's: a later
    ``query_start`` among the sessions ``pid`` blocks means the lock timeout
    came (and was logged) and the retry is waiting, with no fixed sleep. (Not
    for CREATE INDEX CONCURRENTLY, where a later query_start showed up with no
    timeout logged; that test watches the run's log instead.)
    """
    deadline = time.monotonic() + timeout
    started = None
    with engine.connect() as conn:
        conn.execution_options(isolation_level="AUTOCOMMIT")
        while time.monotonic() < deadline:
            since = conn.execute(
                sa.text(
                    "SELECT max(query_start) FROM pg_stat_activity"
                    " WHERE :pid = ANY (pg_blocking_pids(pid))"
                ),
                {"pid": pid},
            ).scalar()
            if started is None:
                started = since
            elif since is not None and since > started:
                return
            time.sleep(0.01)
    pytest.fail(f"no session waiting for pid {pid} was retried within {timeout}s")


def three_revisions(project: Project) -> None:
    """900 touches no table the holder locks; 901 needs users; 902 after it."""
    only_first_revision(project)
    write_revision(
        project,
        rev="900",
        down="001",
        upgrade='op.create_table("t900", sa.Column("id", sa.Integer))',
        downgrade='op.drop_table("t900")',
    )
    write_revision(
        project,
        rev="901",
        down="900",
        upgrade='op.add_column("users", sa.Column("nickname", sa.Text))',
        downgrade='op.drop_column("users", "nickname")',
    )
    write_revision(
        project,
        rev="902",
        down="901",
        upgrade='op.create_table("t902", sa.Column("id", sa.Integer))',
        downgrade='op.drop_table("t902")',
    )


def finish(process: subprocess.Popen[str]) -> subprocess.CompletedProcess[str]:
    stdout, stderr = process.communicate(timeout=120)
    return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)


# ------------------------------------------------------------------ timeouts


def test_timeouts_are_set_on_the_session_and_x_arguments_win(
    project: Project, engine: sa.Engine
) -> None:
    only_first_revision(project)
    write_revision(
        project,
        rev="900",
        down="001",
        upgrade="""
            op.execute(
                "CREATE TABLE seen AS SELECT 'transaction' AS place,"
                " current_setting('lock_timeout') AS lock_timeout,"
                " current_setting('statement_timeout') AS statement_timeout,"
                " current_setting('deadlock_timeout') AS deadlock_timeout"
            )
            with op.get_context().autocommit_block():
                op.execute(
                    "INSERT INTO seen SELECT 'autocommit',"
                    " current_setting('lock_timeout'),"
                    " current_setting('statement_timeout'),"
                    " current_setting('deadlock_timeout')"
                )
        """,
        downgrade='op.drop_table("seen")',
    )

    def seen() -> dict[str, tuple[str, str, str]]:
        with engine.connect() as conn:
            return {
                row.place: (
                    row.lock_timeout,
                    row.statement_timeout,
                    row.deadlock_timeout,
                )
                for row in conn.execute(sa.text("SELECT * FROM seen"))
            }

    env = project.env(
        MIGRATIONKIT_LOCK_TIMEOUT="750ms", MIGRATIONKIT_STATEMENT_TIMEOUT="1min"
    )
    ok(project.alembic("-x", "statement_timeout=10min", "upgrade", "head", env=env))
    # A short deadlock_timeout makes autovacuum yield a lock the migration waits
    # for within 20 ms instead of the server's 1 s.
    short = format_duration(DEADLOCK_TIMEOUT)
    assert seen() == {
        "transaction": ("750ms", "10min", short),
        "autocommit": ("750ms", "10min", short),
    }

    ok(project.alembic("downgrade", "001"))
    ok(project.alembic("-x", "deadlock_timeout=0", "upgrade", "head"))
    with engine.connect() as conn:
        server_default = conn.execute(sa.text("SHOW deadlock_timeout")).scalar_one()
    assert {place: row[2] for place, row in seen().items()} == {
        "transaction": server_default,
        "autocommit": server_default,
    }


def test_a_duration_without_unit_is_refused_with_a_clear_message(
    project: Project,
) -> None:
    only_first_revision(project)
    message = failed(project.alembic("-x", "lock_timeout=2000", "upgrade", "head"))
    assert "-x lock_timeout='2000' is not a duration" in message
    assert "lock_timeout=2s" in message


def test_settings_and_x_arguments_parse_durations() -> None:
    assert parse_duration("500ms", name="x") == pytest.approx(0.5)
    assert parse_duration("2s", name="x") == 2
    assert parse_duration("10min", name="x") == 600
    assert parse_duration("0", name="x") == 0
    with pytest.raises(MigrationKitError, match="is not a duration"):
        parse_duration("soon", name="x")
    settings = Settings.from_environ(
        {"MIGRATIONKIT_LOCK_TIMEOUT": "5s", "MIGRATIONKIT_LOCK_RETRIES": "2"}
    )
    assert (settings.lock_timeout, settings.statement_timeout) == (5, 0)
    guards = MigrationGuards.from_x_arguments({"lock_retries": "7"}, settings=settings)
    assert (guards.lock_timeout, guards.lock_retries) == (5, 7)
    assert Settings.from_environ({}).lock_timeout == 2
    with pytest.raises(MigrationKitError, match="whole number"):
        Settings.from_environ({"MIGRATIONKIT_LOCK_RETRIES": "many"})
    assert Settings.from_environ({}).migration_lock_timeout == 600
    waiting = Settings.from_environ({"MIGRATIONKIT_MIGRATION_LOCK_TIMEOUT": "30min"})
    assert waiting.migration_lock_timeout == 1800
    guards = MigrationGuards.from_x_arguments(
        {"migration_lock_timeout": "5s", "acknowledge": "011, 012"}, settings=waiting
    )
    assert guards.migration_lock_timeout == 5
    assert guards.acknowledged == {"011", "012"}


def test_a_duration_that_rounds_to_no_timeout_or_overflows_is_refused() -> None:
    """PostgreSQL keeps whole milliseconds and reads 0 as "wait forever"."""
    with pytest.raises(MigrationKitError, match="rounds to 0 ms") as zero:
        parse_duration("0.4ms", name="-x lock_timeout")
    assert "reads as no timeout at all" in str(zero.value)
    assert "-x lock_timeout=1ms" in str(zero.value)
    with pytest.raises(MigrationKitError, match="more than PostgreSQL accepts"):
        parse_duration("2147483648ms", name="x")
    with pytest.raises(MigrationKitError, match="more than PostgreSQL accepts"):
        parse_duration("600h", name="x")
    assert parse_duration("2147483647ms", name="x") == pytest.approx(2147483.647)
    assert parse_duration("0.6ms", name="x") == pytest.approx(0.0006)
    assert parse_duration("0ms", name="x") == parse_duration("0", name="x") == 0
    assert [describe_duration(s) for s in (0, 0.2, 2, 90, 600, 7200)] == [
        "0",
        "200ms",
        "2s",
        "90s",
        "10min",
        "2h",
    ]
    with pytest.raises(MigrationKitError, match="rounds to 0 ms"):
        Settings.from_environ({"MIGRATIONKIT_STATEMENT_TIMEOUT": "0.1ms"})


def test_a_sub_millisecond_lock_timeout_fails_before_anything_runs(
    project: Project,
) -> None:
    only_first_revision(project)
    message = failed(project.alembic("-x", "lock_timeout=0.4ms", "upgrade", "head"))
    assert "-x lock_timeout='0.4ms' rounds to 0 ms" in message
    assert "Traceback" not in message
    assert current_revision(project) == ""


def test_retry_delays_grow_with_jitter() -> None:
    for retry in range(1, 6):
        ceiling = min(30, 0.5 * 2 ** (retry - 1))
        assert ceiling / 2 <= retry_delay(retry) <= ceiling
    assert len({retry_delay(3) for _ in range(20)}) > 1


# -------------------------------------------------------------------- retries


def test_a_lock_timeout_is_retried_until_the_holder_lets_go(
    project: Project, engine: sa.Engine, holder: sa.Connection
) -> None:
    three_revisions(project)
    ok(project.alembic("upgrade", "001"))
    holder_pid = hold_users_lock(holder)
    process = project.popen_alembic(*FAST, "upgrade", "+2")
    wait_until_retried(engine, holder_pid)
    holder.rollback()
    result = ok(finish(process))

    assert "lock timeout (lock_timeout=200ms) in upgrade 900 -> 901" in result.stderr
    assert "the database stays at 900" in result.stderr
    assert f"Blocked by pid {holder_pid} (application 'lock-holder'" in result.stderr
    assert "Retry 1 of 5" in result.stderr
    # ``+2`` counts from where the run started (001), not from the retry's 900.
    assert current_revision(project).startswith("901")
    with engine.connect() as conn:
        columns = sa.inspect(conn).get_columns("users")
    assert "nickname" in {c["name"] for c in columns}


def test_when_the_holder_never_lets_go_the_failure_names_it(
    project: Project, engine: sa.Engine, holder: sa.Connection
) -> None:
    three_revisions(project)
    ok(project.alembic("upgrade", "001"))
    holder_pid = hold_users_lock(holder)
    message = failed(project.alembic(*FAST, "-x", "lock_retries=1", "upgrade", "head"))
    assert "upgrade 900 -> 901" in message
    assert "could not get a lock within lock_timeout=200ms in 2 attempt(s)" in message
    assert "Its transaction was rolled back." in message
    assert "The database is at revision 900 (the last completed migration)" in message
    assert "partly" not in message
    assert (
        f"pid {holder_pid} (application 'lock-holder', state 'idle in transaction'"
        in message
    )
    assert "holds AccessExclusiveLock on users" in message
    assert "LOCK TABLE users IN ACCESS EXCLUSIVE MODE" in message
    assert f"(SELECT pg_terminate_backend({holder_pid}))" in message
    assert "Retry 1 of 1" in message

    assert current_revision(project).startswith("900")
    holder.rollback()
    ok(project.alembic("upgrade", "head"))
    assert current_revision(project).startswith("902")


def test_a_concurrent_index_build_cut_short_by_lock_timeout_is_rebuilt_on_retry(
    project: Project, engine: sa.Engine, holder: sa.Connection, tmp_path: Path
) -> None:
    """CREATE INDEX CONCURRENTLY waits for open writers after it has created its
    (still INVALID) index; a lock timeout there leaves that index behind, and the
    retry must drop it and build it again rather than keep it."""
    only_first_revision(project)
    write_revision(
        project,
        rev="900",
        down="001",
        upgrade='create_index_concurrently("ix_users_first_name", "users", '
        '["first_name"])',
    )
    ok(project.alembic("upgrade", "001"))
    holder_pid = int(holder.execute(sa.text("SELECT pg_backend_pid()")).scalar_one())
    holder.execute(  # an open writing transaction, as an application would have
        sa.text(
            "INSERT INTO users (id, email, is_active)"
            " VALUES (gen_random_uuid(), 'writer@example.com', true)"
        )
    )
    log = tmp_path / "alembic.stderr"
    with log.open("w") as stderr:
        process = subprocess.Popen(
            [sys.executable, "-m", "alembic", *FAST, "upgrade", "head"],
            cwd=project.path,
            env=project.env(),
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
        )
    # The retry has met the first attempt's INVALID index: the holder may go.
    wait_for(
        lambda: "is INVALID" in log.read_text() or process.poll() is not None,
        what="the retry to find the INVALID index",
    )
    holder.commit()
    stdout, _ = process.communicate(timeout=120)
    result = ok(
        subprocess.CompletedProcess(
            process.args, process.returncode, stdout, log.read_text()
        )
    )

    assert "lock timeout (lock_timeout=200ms) in upgrade 001 -> 900" in result.stderr
    assert f"Blocked by pid {holder_pid} (application 'lock-holder'" in result.stderr
    assert "is INVALID" in result.stderr
    with engine.connect() as conn:
        valid = conn.execute(
            sa.text(
                "SELECT indisvalid FROM pg_index"
                " WHERE indexrelid = to_regclass('ix_users_first_name')"
            )
        ).scalar_one()
    assert valid


# ------------------------------------------- a unique build cut short (issue 6)


UNIQUE_FIRST_NAME = """
    add_unique_constraint_using_index("uq_users_first_name", "users", ["first_name"])
"""


def hold_old_snapshot(holder: sa.Connection, *, reading_users: bool) -> int:
    """A REPEATABLE READ transaction whose snapshot a concurrent build waits for.

    Reading ``users`` also keeps ACCESS SHARE on it, which a concurrent drop of
    the half-built index must wait for too.
    """
    pid = int(holder.execute(sa.text("SELECT pg_backend_pid()")).scalar_one())
    holder.commit()
    holder.execute(sa.text("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ"))
    holder.execute(
        sa.text("SELECT count(*) FROM users" if reading_users else "SELECT 1")
    )
    return pid


def index_flags(engine: sa.Engine, name: str) -> tuple[bool, bool] | None:
    """(valid, ready) of the index ``name``, or None when there is none."""
    state = index_state(engine, name)
    return None if state is None else (state.valid, state.ready)


def duplicate_first_name(engine: sa.Engine) -> None:
    """Insert a user whose first_name another user already has."""
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO users (id, email, first_name, is_active)"
                " SELECT gen_random_uuid(), 'twin@example.com', first_name, true"
                " FROM users WHERE email = 'user1@example.com'"
            )
        )


def test_a_ready_unique_index_that_cannot_be_dropped_is_named_for_what_it_does(
    project: Project, engine: sa.Engine, holder: sa.Connection
) -> None:
    upgrade_to_users(project, engine, rows=200)
    write_revision(project, rev="900", down="001", upgrade=UNIQUE_FIRST_NAME)
    holder_pid = hold_old_snapshot(holder, reading_users=True)
    message = failed(project.alembic(*FAST, "-x", "lock_retries=1", "upgrade", "head"))

    assert "could not get a lock within lock_timeout=200ms in 2 attempt(s)" in message
    assert (
        "Its open transaction was rolled back; upgrade 001 -> 900 also runs" in message
    )
    assert "The database is at revision 001 (the last completed migration)" in message
    assert (
        "Still there: unique index public.uq_users_first_name on public.users, left "
        "by the failed "
        "step and not dropped in time. It is INVALID but ready: it serves no query, "
        "yet every write is checked against it, so it refuses duplicate (first_name) "
        "values as a unique constraint would." in message
    ), message
    assert "DROP INDEX CONCURRENTLY IF EXISTS public.uq_users_first_name" in message
    assert f"pid {holder_pid} (application 'lock-holder'" in message
    assert current_revision(project).startswith("001")
    assert index_flags(engine, "uq_users_first_name") == (False, True)
    # What the message says it does, it does; verification says the same.
    with pytest.raises(sa.exc.IntegrityError):
        duplicate_first_name(engine)
    with engine.connect() as conn:
        lines, _ = invalid_indexes(conn, metadata=sa.MetaData())
    assert lines == [
        (
            "unique index uq_users_first_name on public.users is INVALID but ready "
            "(left by a failed CREATE INDEX CONCURRENTLY): it serves no query, yet "
            "every write is checked against it: it refuses duplicate values as a "
            "unique constraint would"
        )
    ]

    holder.rollback()
    result = ok(project.alembic("upgrade", "head"))
    assert "is INVALID (left by an earlier concurrent build" in result.stderr
    assert index_flags(engine, "uq_users_first_name") == (True, True)
    assert current_revision(project).startswith("900")


def test_a_unique_build_cut_short_leaves_the_database_as_the_message_says(
    project: Project, engine: sa.Engine, holder: sa.Connection
) -> None:
    """A snapshot alone stops the build, not the drop: nothing stays behind."""
    upgrade_to_users(project, engine, rows=200)
    write_revision(project, rev="900", down="001", upgrade=UNIQUE_FIRST_NAME)
    hold_old_snapshot(holder, reading_users=False)
    message = failed(project.alembic(*FAST, "-x", "lock_retries=0", "upgrade", "head"))
    holder.rollback()

    assert "in 1 attempt(s)" in message
    assert "The database is at revision 001 (the last completed migration)" in message
    assert "Still there" not in message
    assert index_flags(engine, "uq_users_first_name") is None
    duplicate_first_name(engine)  # legal at 001, and accepted


def test_retries_rebuild_a_unique_index_once_the_old_snapshot_is_gone(
    project: Project, engine: sa.Engine, holder: sa.Connection
) -> None:
    upgrade_to_users(project, engine, rows=200)
    write_revision(project, rev="900", down="001", upgrade=UNIQUE_FIRST_NAME)
    holder_pid = hold_old_snapshot(holder, reading_users=True)
    process = project.popen_alembic(*FAST, "upgrade", "head")
    # The build timed out once its drop of the leftover waits for the holder too.
    wait_until_blocked_by(engine, holder_pid, query="DROP INDEX CONCURRENTLY")
    holder.rollback()
    result = ok(finish(process))

    assert "lock timeout (lock_timeout=200ms) in upgrade 001 -> 900" in result.stderr
    assert "Retry 1 of 5" in result.stderr
    assert index_flags(engine, "uq_users_first_name") == (True, True)
    assert current_revision(project).startswith("900")


def test_a_lock_timeout_after_an_autocommit_step_says_that_step_stays(
    project: Project, engine: sa.Engine, holder: sa.Connection
) -> None:
    upgrade_to_users(project, engine, rows=200)
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE busy (id int)"))
    write_revision(
        project,
        rev="900",
        down="001",
        upgrade="""
            create_index_concurrently("ix_users_first_name", "users", ["first_name"])
            op.add_column("busy", sa.Column("note", sa.Text))
        """,
    )
    holder.execute(sa.text("LOCK TABLE busy IN ACCESS EXCLUSIVE MODE"))
    message = failed(project.alembic(*FAST, "-x", "lock_retries=0", "upgrade", "head"))
    holder.rollback()

    assert (
        "Its open transaction was rolled back; upgrade 001 -> 900 also runs steps "
        "outside a transaction (a concurrent index build, backfill batches), and "
        "those that had finished stay committed." in message
    ), message
    assert (
        "The database is at revision 001 (the last completed migration), plus the "
        "steps of upgrade 001 -> 900 that had finished." in message
    )
    assert "and finishes upgrade 001 -> 900, whose steps skip what is" in message
    assert index_flags(engine, "ix_users_first_name") == (True, True)

    result = ok(project.alembic("upgrade", "head"))
    assert "index ix_users_first_name on users exists and is valid" in result.stderr
    assert current_revision(project).startswith("900")
