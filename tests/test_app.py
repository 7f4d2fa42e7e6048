"""``main.py`` starts only at head, and ``/health`` tells the truth about the schema.

Each test has a database of its own. Health is 200 at head, 503 naming both
revisions when the database is behind (or was never migrated), 503 when the
database cannot be reached (and 200 again when it can); the start is refused
when behind; two replicas started at once after two concurrent ``upgrade head``
runs both serve.

The last test runs ``alembic`` and ``main.py`` as real processes, end to end.
The others call ``main.main`` or serve its application in this process
(tests/apphelpers.py), on copies of a database migrated once per module.
"""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Callable, Iterator

import pytest
import sqlalchemy as sa
from psycopg import sql

import main
from migrationkit.database import DatabaseTarget
from migrationkit.testing.pgbouncer import free_port
from migrationkit.testing.server import TestServer
from tests.apphelpers import (
    AppServer,
    app_server,
    database_from_template,
    migrate,
)
from tests.helpers import (
    DATABASE_VARIABLES,
    REPO,
    Project,
    Service,
    database_heads,
    script_heads,
)
from tests.in_process import run_main


@pytest.fixture
def migrated(server: TestServer, at_head: str) -> Iterator[DatabaseTarget]:
    """A database of this test's own, at head."""
    with database_from_template(server, at_head) as database:
        yield database


def run_service(
    database: DatabaseTarget, *argv: str, **env: str
) -> subprocess.CompletedProcess[str]:
    """``python main.py <argv>`` on ``database``, run in this process."""
    environ = {k: v for k, v in os.environ.items() if k not in DATABASE_VARIABLES}
    environ["DATABASE_URL"] = database.secret_url().reveal()
    environ["MIGRATIONKIT_CONNECT_WAIT"] = "0s"
    environ.update(env)
    return run_main(main.main, argv, cwd=REPO, env=environ, program=("main.py",))


def step_down(server: TestServer, database: DatabaseTarget) -> str:
    """``alembic downgrade -1``; returns the revision the database is at now."""
    migrate(REPO, database.secret_url(), "-1", down=True)
    engine = server.engine(database)
    try:
        heads = database_heads(engine)
    finally:
        engine.dispose()
    assert heads is not None, "the version table is gone"
    assert len(heads) == 1, heads
    return heads[0]


def test_main_refuses_a_database_never_migrated(database: DatabaseTarget) -> None:
    result = run_service(database)
    assert result.returncode == 1
    assert "FAILED: not starting: this database was never migrated" in result.stderr
    assert "alembic upgrade head" in result.stderr
    assert "Traceback" not in result.stderr


def test_main_refuses_a_database_behind_head(
    server: TestServer, migrated: DatabaseTarget
) -> None:
    below = step_down(server, migrated)
    result = run_service(migrated)
    assert result.returncode == 1, result.stderr
    assert f"not starting: the database is behind: at {below}" in result.stderr
    assert "fix: run `alembic upgrade head`" in result.stderr
    assert "Traceback" not in result.stderr


def test_main_waits_for_an_unreachable_database_then_gives_up(
    database: DatabaseTarget,
) -> None:
    result = run_service(
        database,
        DATABASE_URL=f"postgresql://app:pw-not-shown@127.0.0.1:{free_port()}/app",
        MIGRATIONKIT_CONNECT_WAIT="1s",
    )
    assert result.returncode == 1
    assert "FAILED: Cannot reach PostgreSQL at 127.0.0.1:" in result.stderr
    assert "not connected yet (attempt 1)" in result.stderr
    assert "Gave up after" in result.stderr
    assert "pw-not-shown" not in result.stderr + result.stdout
    assert "Traceback" not in result.stderr


def test_bad_port_is_refused(database: DatabaseTarget) -> None:
    result = run_service(database, PORT="eighty")
    assert result.returncode == 1
    assert "PORT='eighty' is not a TCP port" in result.stderr


def test_health_at_head_then_behind_it(
    server: TestServer, migrated: DatabaseTarget
) -> None:
    heads = script_heads(Project(REPO, None))
    with app_server(migrated) as service:
        healthy = service.request("GET", "/health")
        assert healthy.status == 200
        assert healthy.body["status"] == "ok"
        assert healthy.body["revision"] == {"current": heads, "expected": heads}

        below = step_down(server, migrated)  # while the service runs
        behind = service.request("GET", "/health")
        assert behind.status == 503
        assert behind.body["status"] == "not_at_head"
        assert behind.body["revision"] == {"current": [below], "expected": heads}
        assert "the database is behind" in behind.body["detail"]
        assert "alembic upgrade head" in behind.body["detail"]

        migrate(REPO, migrated.secret_url(), "head")
        assert service.request("GET", "/health").status == 200


def test_health_when_the_database_cannot_be_reached(
    server: TestServer, migrated: DatabaseTarget
) -> None:
    """Connections refused (as a server restarting or a paused compute refuses
    them): /health and the API answer 503 at once; both recover by themselves."""
    with app_server(migrated) as service:
        health_while_refused(service, server, migrated)


def health_while_refused(
    service: AppServer, server: TestServer, database: DatabaseTarget
) -> None:
    user = {"email": "down@example.com", "username": "down"}
    assert service.request("POST", "/users", user).status == 201

    name = sql.Identifier(database.url.database or "")
    admin = server.engine().execution_options(isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        raw = conn.connection.driver_connection
        refuse = sql.SQL("ALTER DATABASE {} WITH ALLOW_CONNECTIONS false")
        conn.exec_driver_sql(refuse.format(name).as_string(raw))
        conn.execute(
            sa.text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = :name AND pid <> pg_backend_pid()"
            ),
            {"name": database.url.database},
        )
    try:
        down = service.request("GET", "/health")
        assert down.status == 503, down
        assert down.body["status"] == "unreachable"
        assert down.body["revision"]["current"] is None
        assert down.body["revision"]["expected"] == script_heads(Project(REPO, None))
        assert "not currently accepting connections" in down.body["detail"]
        listing = service.request("GET", "/users")
        assert listing.status == 503
        assert listing.headers["retry-after"]
        assert "unavailable" in listing.body["detail"]
    finally:
        with admin.connect() as conn:
            allow = sql.SQL("ALTER DATABASE {} WITH ALLOW_CONNECTIONS true")
            conn.exec_driver_sql(
                allow.format(name).as_string(conn.connection.driver_connection)
            )
        admin.dispose()
    assert service.request("GET", "/health").status == 200
    assert service.request("GET", "/users").body["items"][0]["email"] == user["email"]


def test_two_replicas_start_together_after_two_concurrent_upgrades(
    project: Project, services: Callable[..., Service], engine: sa.Engine
) -> None:
    """What a deploy of two containers does: both run ``alembic upgrade head``
    at once on a fresh database (the advisory lock lets one migrate, the other
    wait and find nothing to do), then both start serving."""
    upgrades = [project.popen_alembic("upgrade", "head") for _ in range(2)]
    for upgrade in upgrades:
        stdout, stderr = upgrade.communicate(timeout=300)
        assert upgrade.returncode == 0, stdout + stderr
    assert database_heads(engine) == script_heads(project)

    first, second = services(project), services(project)
    for replica in (first, second):
        replica.wait_until_answering()
        assert replica.request("GET", "/health").status == 200
    made = first.request(
        "POST", "/users", {"email": "r@example.com", "username": "replica"}
    )
    assert made.status == 201
    assert second.request("GET", f"/users/{made.body['id']}").body == made.body
    # SIGTERM is a graceful stop (uvicorn then re-raises it, as its exit status)
    assert first.stop() in {0, -signal.SIGTERM}
    assert "Application shutdown complete" in first.output()
