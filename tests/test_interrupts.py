"""Ctrl-C during a migration: one line, the transaction rolled back, the lock gone.

SIGINT goes to a command blocked on a lock held by the test. Alembic prints one
``FAILED:`` line naming the interrupted migration and the revision the database
is at, and exits 255; ``migrationkit`` exits 130. No traceback, no
``PendingRollbackError``, no advisory lock left behind, and the next run resumes.
"""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import Callable

import pytest
import sqlalchemy as sa

from tests.helpers import (
    ALEMBIC_FAILED,
    Project,
    failed_line,
    migrated_to_base,
    revision_now,
    single_failure,
    wait_for,
    write_revision,
)

pytestmark = pytest.mark.slow  # signals to real processes

# Started with Python's own SIGINT handler, whatever the parent ignores (a CI
# runner or `cmd &` may start us with SIGINT ignored, and then no
# KeyboardInterrupt would ever happen).
SIGINT_READY = (
    "import runpy, signal, sys; "
    "signal.signal(signal.SIGINT, signal.default_int_handler); "
)
SIGINT_READY_ALEMBIC = (
    SIGINT_READY + "sys.argv[0] = 'alembic'; "
    "runpy.run_module('alembic', run_name='__main__', alter_sys=True)"
)


def blocked_pids(engine: sa.Engine) -> list[int]:
    with engine.connect() as conn:
        return list(
            conn.execute(
                sa.text(
                    "SELECT DISTINCT pid FROM pg_locks WHERE NOT granted"
                    " AND database = (SELECT oid FROM pg_database"
                    "                  WHERE datname = current_database())"
                )
            ).scalars()
        )


def interrupt_when_blocked(
    code_and_args: list[str],
    *,
    project: Project,
    env: dict[str, str],
    engine: sa.Engine,
    then: Callable[[], None] | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run ``python -c <code> <args>``, send SIGINT once it waits for a lock."""
    process = subprocess.Popen(
        [sys.executable, "-c", *code_and_args],
        cwd=project.path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for(lambda: bool(blocked_pids(engine)), what="the blocked command")
        process.send_signal(signal.SIGINT)
        if then is not None:
            then()
        stdout, stderr = process.communicate(timeout=60)
    finally:
        process.kill()
    return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)


def advisory_locks(engine: sa.Engine) -> int:
    with engine.connect() as conn:
        return int(
            conn.execute(
                sa.text(
                    # pg_locks is the whole server's: only this test's database
                    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'"
                    " AND database = (SELECT oid FROM pg_database"
                    " WHERE datname = current_database())"
                )
            ).scalar_one()
        )


def test_ctrl_c_on_a_blocked_migration_says_where_the_database_is(
    project: Project, engine: sa.Engine
) -> None:
    base = migrated_to_base(project)
    write_revision(
        project,
        rev="900int",
        down=base,
        upgrade='op.execute("LOCK TABLE users IN ACCESS EXCLUSIVE MODE")',
    )
    with engine.connect() as holder:
        holder.execute(sa.text("LOCK TABLE users IN ACCESS SHARE MODE"))
        result = interrupt_when_blocked(
            [SIGINT_READY_ALEMBIC, "-x", "lock_timeout=0", "upgrade", "head"],
            project=project,
            env=project.env(),
            engine=engine,
        )
        holder.rollback()
    single_failure(result, status=ALEMBIC_FAILED)
    assert failed_line(result) == (
        f"FAILED: Interrupted (Ctrl-C) during migration upgrade {base} -> 900int, "
        "test revision 900int: its open transaction was rolled back and the "
        f"database is at revision {base}. Run the same command again to resume."
    )
    # SQLAlchemy invalidates a connection that a KeyboardInterrupt broke into
    # and closes its socket: the lock goes with the server process, which ends
    # on its own a moment after the client (seen once still holding it right
    # after the run). A lock that outlives that moment is a real leak.
    wait_for(
        lambda: advisory_locks(engine) == 0,
        what="the interrupted run's server process to end, its lock with it",
        timeout=10,
    )
    assert project.alembic("upgrade", "head").returncode == 0
    assert revision_now(project) == "900int"


def test_ctrl_c_in_the_migrationkit_command_exits_130(
    project: Project, engine: sa.Engine
) -> None:
    base = migrated_to_base(project)
    env = project.env(MIGRATIONKIT_LOCK_TIMEOUT="0")
    with engine.connect() as holder:
        holder.execute(sa.text("LOCK TABLE alembic_version IN ACCESS EXCLUSIVE MODE"))
        result = interrupt_when_blocked(
            [
                SIGINT_READY + "from migrationkit.cli import main; sys.exit(main())",
                "verify",
            ],
            project=project,
            env=env,
            engine=engine,
            then=holder.rollback,  # so the version table can be read back
        )
    single_failure(result, status=130)
    assert failed_line(result) == (
        "FAILED: Interrupted (Ctrl-C) before any migration ran: the database is at "
        f"revision {base}."
    )
