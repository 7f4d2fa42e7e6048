"""Migrations and a connection pooler: a real PgBouncer in front of the test server.

Through PgBouncer a migration is refused before it takes any lock, with a
message naming DATABASE_URL_DIRECT and the session-pooler declaration, in every
pool mode, since nothing it can observe proves that sessions are kept; with
DATABASE_URL_DIRECT set it runs on the server itself while DATABASE_URL stays
the pooled string; through PgBouncer in session mode declared as such
(MIGRATIONKIT_POOLER=session) it is allowed. A wrong declaration is caught: by
the behaviour probe, else by the check that every transaction runs in the lock
holder's server process, which stops the run and releases the lock there. Under
shared load no attempt gets through and no lock or timeout is left behind. The
pooler's own tests skip, saying why, where pgbouncer is not installed.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from benchmarks.pooler_safety.attempts import Load, run_attempts, write_project
from migrationkit.database import DatabaseTarget, UrlSource
from migrationkit.errors import TransactionPoolerError
from migrationkit.runtime.guards import MigrationGuards
from migrationkit.runtime.lock import migration_lock
from migrationkit.runtime.pooler import (
    Route,
    ServerProcessPin,
    release_where_held,
    transaction_pooling_evidence,
)
from migrationkit.testing.pgbouncer import LoginRole, PgBouncer, pgbouncer_binary
from migrationkit.testing.server import TestServer
from tests.helpers import (
    Project,
    database_heads,
    failed,
    ok,
    script_heads,
)

pytestmark = pytest.mark.slow  # servers, clusters or benchmarks of its own


def plain(url: sa.URL) -> str:
    return url.render_as_string(hide_password=False)


def advisory_locks(engine: sa.Engine) -> int:
    with engine.connect() as conn:
        return int(
            conn.scalar(
                sa.text(
                    # pg_locks is the whole server's: only this test's database
                    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'"
                    " AND database = (SELECT oid FROM pg_database"
                    " WHERE datname = current_database())"
                )
            )
            or 0
        )


def test_migration_through_a_transaction_pooler_is_refused(
    project: Project, bouncer: PgBouncer, engine: sa.Engine
) -> None:
    env = project.env(DATABASE_URL=plain(bouncer.pooled_url))
    output = failed(project.alembic("upgrade", "head", env=env))
    assert "Refusing to migrate through a pooler that may pool transactions" in output
    assert "is not the database server itself" in output
    assert "DATABASE_URL_DIRECT" in output
    assert "MIGRATIONKIT_POOLER=session" in output
    assert "no lock was taken and no migration ran" in output
    assert bouncer.role.password not in output
    assert database_heads(engine) is None, "something was migrated"
    assert advisory_locks(engine) == 0


def test_migration_runs_on_the_direct_url_beside_a_pooled_one(
    project: Project, bouncer: PgBouncer, engine: sa.Engine
) -> None:
    env = project.env(
        DATABASE_URL=plain(bouncer.pooled_url),
        DATABASE_URL_DIRECT=plain(bouncer.direct_url),
    )
    ok(project.alembic("upgrade", "head", env=env))
    assert database_heads(engine) == script_heads(project)
    # verification uses the same direct connection
    verified = ok(project.call("verify_migration.py", env=env))
    assert "FAIL" not in verified.stdout
    current = ok(project.alembic("current", env=env)).stdout
    assert "(head)" in current


def test_a_direct_url_that_is_the_pooler_is_refused_naming_that_variable(
    project: Project, bouncer: PgBouncer
) -> None:
    env = project.env(DATABASE_URL_DIRECT=plain(bouncer.pooled_url))
    output = failed(project.alembic("upgrade", "head", env=env))
    assert "(from DATABASE_URL_DIRECT)" in output
    assert "point DATABASE_URL_DIRECT at the database server itself" in output


def test_neon_pooled_host_is_refused_before_connecting(project: Project) -> None:
    secret = "npg_s3cret"  # a made-up password that must never show
    url = (
        f"postgresql://neondb_owner:{secret}@ep-cool-darkness-a1b2c3d4-pooler"
        ".us-east-2.aws.neon.tech/neondb?sslmode=require&channel_binding=require"
    )
    output = failed(
        project.alembic("upgrade", "head", env=project.env(DATABASE_URL=url))
    )
    assert "Neon's pooled endpoint" in output
    assert "without -pooler in the host" in output
    assert "Cannot reach" not in output  # refused by name: nothing was dialled
    assert secret not in output


def test_session_pooler_is_allowed_and_a_late_server_is_waited_for(
    project: Project,
    database: DatabaseTarget,
    role: LoginRole,
    engine: sa.Engine,
    tmp_path: Path,
) -> None:
    """A server that starts listening only after the migration began (a waking
    compute, a database container still starting) is waited for; a pooler that
    keeps one server session per client, declared as such, does not trip the
    pooler check."""
    if pgbouncer_binary() is None:
        pytest.skip("pgbouncer is not installed (apt-get install pgbouncer)")
    late = PgBouncer(server=database.url, role=role, pool_mode="session")
    log = tmp_path / "migration.log"
    env = project.env(
        DATABASE_URL=plain(late.pooled_url),
        MIGRATIONKIT_CONNECT_WAIT="60s",
        MIGRATIONKIT_POOLER="session",
    )
    try:
        with log.open("w") as out:
            migration = subprocess.Popen(
                [sys.executable, "-m", "alembic", "upgrade", "head"],
                cwd=project.path,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        # Start the pooler only once the migration has knocked on its port.
        deadline = time.monotonic() + 60
        while "not connected yet" not in log.read_text():
            assert migration.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.1)
        late.start()
        migration.wait(timeout=120)
    finally:
        late.close()
    output = log.read_text()
    assert migration.returncode == 0, output
    assert "not connected yet (attempt 1)" in output
    assert "retrying in" in output
    assert role.password not in output
    assert database_heads(engine) == script_heads(project)


def test_pooling_evidence_in_process(
    server: TestServer, database: DatabaseTarget, bouncer: PgBouncer
) -> None:
    """The probe itself: proof through the pooler, nothing on the server."""
    for url, expect_pooled in ((bouncer.pooled_url, True), (bouncer.direct_url, False)):
        target = DatabaseTarget(url, UrlSource.ENVIRONMENT)
        engine = server.engine(url)
        try:
            with engine.connect() as connection:
                evidence = transaction_pooling_evidence(connection, target)
                assert not connection.in_transaction()
        finally:
            engine.dispose()
        assert (evidence is not None) is expect_pooled, (url, evidence)


def test_sslmode_and_channel_binding_in_the_url_are_honoured(
    project: Project, bouncer: PgBouncer
) -> None:
    """The pooler here offers no TLS: a URL that requires it is refused by libpq,
    at once (waiting would not help), with the reason."""
    for query, reason in (
        ("sslmode=require", "SSL was required"),
        ("channel_binding=require", "channel binding required"),
    ):
        url = f"{plain(bouncer.pooled_url)}?{query}"
        output = failed(project.alembic("current", env=project.env(DATABASE_URL=url)))
        assert reason in output, output
        assert "Gave up after" not in output  # not retried
        assert bouncer.role.password not in output


def test_session_pooler_not_declared_is_refused_naming_the_declaration(
    project: Project, database: DatabaseTarget, role: LoginRole, engine: sa.Engine
) -> None:
    """PgBouncer announces a made-up server process id in every pool mode: in
    session mode it looks like transaction mode at rest, so only a declaration
    lets a migration through it."""
    if pgbouncer_binary() is None:
        pytest.skip("pgbouncer is not installed (apt-get install pgbouncer)")
    with PgBouncer(server=database.url, role=role, pool_mode="session") as pooler:
        env = project.env(DATABASE_URL=plain(pooler.pooled_url))
        output = failed(project.alembic("upgrade", "head", env=env))
        assert "MIGRATIONKIT_POOLER=session" in output
        assert "no lock was taken and no migration ran" in output
        assert database_heads(engine) is None
        declared = project.env(
            DATABASE_URL=plain(pooler.pooled_url), MIGRATIONKIT_POOLER="session"
        )
        ok(project.alembic("upgrade", "head", env=declared))
    assert database_heads(engine) == script_heads(project)
    assert advisory_locks(engine) == 0


def test_an_unknown_pooler_declaration_is_refused(project: Project) -> None:
    env = project.env(MIGRATIONKIT_POOLER="transaction")
    output = failed(project.alembic("upgrade", "head", env=env))
    assert "MIGRATIONKIT_POOLER='transaction' is not understood" in output


def stray_after_taking_the_lock(
    connection: sa.Connection, other: sa.Connection, *, holder: list[int]
) -> None:
    """Take the lock through the pooler as a (wrongly) declared session pooler,
    let ``other`` take the holder's server process, then run a statement."""
    guards = MigrationGuards(lock_timeout=2.0, statement_timeout=0.0, lock_retries=0)
    route = Route(direct=False, why="declared by this test")
    with migration_lock(connection, name="pin", route=route):
        guards.apply(connection)
        pid, timeout = connection.execute(
            sa.text("SELECT pg_backend_pid(), current_setting('lock_timeout')")
        ).one()
        connection.commit()
        holder.append(pid)
        assert timeout == "2s"  # set for the transaction by the pin
        # PgBouncer hands out the most recently released server process:
        # another client now holds the lock holder's process.
        theirs, their_timeout = other.execute(
            sa.text("SELECT pg_backend_pid(), current_setting('lock_timeout')")
        ).one()
        assert theirs == pid
        assert their_timeout == "0"
        # It lets go a moment later; the run's release waits for that.
        threading.Timer(0.3, other.commit).start()
        connection.execute(sa.text("CREATE TABLE must_not_exist (n int)"))


def test_a_transaction_outside_the_lock_holders_process_stops_the_run(
    server: TestServer, bouncer: PgBouncer, engine: sa.Engine
) -> None:
    """A pooler wrongly taken for a session pooler: the transaction that lands on
    another server process is rolled back before it runs anything, the lock is
    released in the process that holds it, and no timeout reached the client
    that used that process meanwhile."""
    pooled = server.engine(bouncer.pooled_url)
    seen: list[int] = []
    try:
        with (
            pooled.connect() as connection,
            pooled.connect() as other,
            pytest.raises(TransactionPoolerError) as caught,
        ):
            stray_after_taking_the_lock(connection, other, holder=seen)
    finally:
        pooled.dispose()
    (holder,) = seen
    message = str(caught.value)
    assert "Stopped the migration run before a transaction" in message
    assert f"held by server process {holder}" in message
    assert "The migration lock was released in that process." in message
    assert advisory_locks(engine) == 0
    with engine.connect() as conn:
        assert conn.scalar(sa.text("SELECT to_regclass('must_not_exist')")) is None


def test_the_lock_is_released_where_held_when_the_pooler_hands_back_ours(
    server: TestServer, bouncer: PgBouncer, engine: sa.Engine
) -> None:
    """The holder's process frees up while the run is inside a transaction on
    another one. PgBouncer then lends the run its own, most recently released,
    process on every retry; a second client, asking while the run's transaction
    stays open, is lent the holder's and releases the lock there."""
    pooled = server.engine(bouncer.pooled_url)
    key = 5_550_777
    try:
        with pooled.connect() as run, pooled.connect() as other:
            holder = run.execute(
                sa.text("SELECT pg_backend_pid() FROM pg_advisory_lock(:key)"),
                {"key": key},
            ).scalar_one()
            run.commit()
            theirs = other.execute(sa.text("SELECT pg_backend_pid()")).scalar_one()
            assert theirs == holder  # the most recently released process
            mine = run.execute(sa.text("SELECT pg_backend_pid()")).scalar_one()
            assert mine != holder
            other.commit()  # the holder's process is free; the run is still in ours
            pin = ServerProcessPin(
                connection=run, holder=holder, route=Route(direct=False, why="test")
            )
            released = release_where_held(
                run,
                pin=pin,
                unlock=sa.text("SELECT pg_advisory_unlock(:key)"),
                key=key,
                within=2.0,
            )
    finally:
        pooled.dispose()
    assert released
    assert advisory_locks(engine) == 0


def test_no_attempt_gets_through_a_loaded_transaction_pooler(
    server: TestServer,
    database: DatabaseTarget,
    role: LoginRole,
    engine: sa.Engine,
    tmp_path: Path,
) -> None:
    """The acceptance check at a modest count (the benchmark runs 200+):
    PgBouncer in transaction mode, pool of 3, 6 clients loading it."""
    if pgbouncer_binary() is None:
        pytest.skip("pgbouncer is not installed (apt-get install pgbouncer)")
    with PgBouncer(
        server=database.url, role=role, pool_mode="transaction", pool_size=3
    ) as pooler:
        url = plain(pooler.pooled_url.set(drivername="postgresql"))
        config_file = write_project(tmp_path / "mini")
        load = Load(url=url, clients=6).start()
        try:
            plain_runs, declared_runs = (
                run_attempts(
                    config_file=config_file,
                    pooled_url=url,
                    server_engine=engine,
                    attempts=8,
                    declare_session=declared,
                )
                for declared in (False, True)
            )
        finally:
            load.stop()
    assert plain_runs.refused == plain_runs.attempts == 8, plain_runs
    for outcome in (plain_runs, declared_runs):
        assert not outcome.other_failures, outcome
        assert outcome.leaked_locks == 0, outcome
    assert declared_runs.refused + declared_runs.stopped + declared_runs.completed == 8
    assert load.transactions > 0
    assert load.foreign_settings == 0
    assert not load.errors, load.errors


def test_a_pinned_run_leaves_no_setting_on_its_session(
    server: TestServer, database: DatabaseTarget, role: LoginRole
) -> None:
    """Through a session pooler (declared), the timeouts hold in every
    transaction and in an autocommit block, and none is left on the session
    once the run is over."""
    if pgbouncer_binary() is None:
        pytest.skip("pgbouncer is not installed (apt-get install pgbouncer)")
    guards = MigrationGuards(lock_timeout=2.0, statement_timeout=60.0, lock_retries=0)
    route = Route(direct=False, why="declared by this test")
    setting = sa.text("SELECT current_setting('lock_timeout')")
    with PgBouncer(server=database.url, role=role, pool_mode="session") as pooler:
        engine = server.engine(pooler.pooled_url)
        try:
            with engine.connect() as connection:
                with migration_lock(connection, name="pin", route=route):
                    guards.apply(connection)
                    assert connection.scalar(setting) == "2s"
                    connection.commit()
                    autocommit = connection.execution_options(
                        isolation_level="AUTOCOMMIT"
                    )
                    with autocommit.begin():
                        assert autocommit.scalar(setting) == "2s"
                        assert autocommit.scalar(setting) == "2s"  # whole block
                    connection.execution_options(isolation_level="READ COMMITTED")
                after = connection.execute(
                    sa.text(
                        "SELECT current_setting('lock_timeout'),"
                        " current_setting('statement_timeout')"
                    )
                ).one()
                connection.commit()
        finally:
            engine.dispose()
    assert tuple(after) == ("0", "0")
