"""Migrations and a connection pooler: a real PgBouncer in front of the test server.

Through PgBouncer in transaction mode a migration is refused before it takes any
lock, with a message naming DATABASE_URL_DIRECT; with DATABASE_URL_DIRECT set
it runs on the server itself while DATABASE_URL stays the pooled string; through
PgBouncer in session mode (one server session per client) it is allowed. The
pooler's own tests skip, saying why, where pgbouncer is not installed.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from migrationkit.database import DatabaseTarget, UrlSource
from migrationkit.runtime.pooler import transaction_pooling_evidence
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
                sa.text("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'")
            )
            or 0
        )


def test_migration_through_a_transaction_pooler_is_refused(
    project: Project, bouncer: PgBouncer, engine: sa.Engine
) -> None:
    env = project.env(DATABASE_URL=plain(bouncer.pooled_url))
    output = failed(project.alembic("upgrade", "head", env=env))
    assert "Refusing to migrate through a transaction pooler" in output
    assert "same server process" in output or "different server processes" in output
    assert "DATABASE_URL_DIRECT" in output
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
    verified = ok(project.run("verify_migration.py", env=env))
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
    keeps one server session per client does not trip the pooler check."""
    if pgbouncer_binary() is None:
        pytest.skip("pgbouncer is not installed (apt-get install pgbouncer)")
    late = PgBouncer(server=database.url, role=role, pool_mode="session")
    log = tmp_path / "migration.log"
    env = project.env(
        DATABASE_URL=plain(late.pooled_url), MIGRATIONKIT_CONNECT_WAIT="60s"
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
