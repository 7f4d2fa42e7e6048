"""``main.py`` starts only at head, and ``/health`` tells the truth about the schema.

The service runs as a process on a loopback port against a database of the
test's own. Health is 200 at head, 503 naming both revisions when the database
is behind (or was never migrated), 503 when the database cannot be reached (and
200 again when it can); the start is refused when behind; two replicas started
at once after two concurrent ``upgrade head`` runs both serve.
"""

from __future__ import annotations

import signal
from collections.abc import Callable

import sqlalchemy as sa
from psycopg import sql

from migrationkit.database import DatabaseTarget
from migrationkit.testing.pgbouncer import free_port
from migrationkit.testing.server import TestServer
from tests.helpers import Project, Service, database_heads, ok, script_heads


def previous_revision(project: Project) -> str:
    """The revision just below head, read from the database after a step down."""
    ok(project.alembic("downgrade", "-1"))
    out = ok(project.alembic("current")).stdout.split()
    return out[0]


def test_main_refuses_a_database_never_migrated(project: Project) -> None:
    result = project.run("main.py")
    assert result.returncode == 1
    assert "FAILED: not starting: this database was never migrated" in result.stderr
    assert "alembic upgrade head" in result.stderr
    assert "Traceback" not in result.stderr


def test_main_refuses_a_database_behind_head(project: Project) -> None:
    ok(project.alembic("upgrade", "head"))
    below = previous_revision(project)
    result = project.run("main.py")
    assert result.returncode == 1, result.stderr
    assert f"not starting: the database is behind: at {below}" in result.stderr
    assert "fix: run `alembic upgrade head`" in result.stderr
    assert "Traceback" not in result.stderr


def test_main_waits_for_an_unreachable_database_then_gives_up(project: Project) -> None:
    env = project.env(
        DATABASE_URL=f"postgresql://app:pw-not-shown@127.0.0.1:{free_port()}/app",
        MIGRATIONKIT_CONNECT_WAIT="1s",
    )
    result = project.run("main.py", env=env)
    assert result.returncode == 1
    assert "FAILED: Cannot reach PostgreSQL at 127.0.0.1:" in result.stderr
    assert "not connected yet (attempt 1)" in result.stderr
    assert "Gave up after" in result.stderr
    assert "pw-not-shown" not in result.stderr
    assert "Traceback" not in result.stderr


def test_bad_port_is_refused(project: Project) -> None:
    result = project.run("main.py", env=project.env(PORT="eighty"))
    assert result.returncode == 1
    assert "PORT='eighty' is not a TCP port" in result.stderr


def test_health_at_head_then_behind_it(
    project: Project, services: Callable[..., Service]
) -> None:
    ok(project.alembic("upgrade", "head"))
    heads = script_heads(project)
    service = services(project).wait_until_answering()
    healthy = service.request("GET", "/health")
    assert healthy.status == 200
    assert healthy.body["status"] == "ok"
    assert healthy.body["revision"] == {"current": heads, "expected": heads}

    below = previous_revision(project)  # while the service runs
    behind = service.request("GET", "/health")
    assert behind.status == 503
    assert behind.body["status"] == "not_at_head"
    assert behind.body["revision"] == {"current": [below], "expected": heads}
    assert "the database is behind" in behind.body["detail"]
    assert "alembic upgrade head" in behind.body["detail"]

    ok(project.alembic("upgrade", "head"))
    assert service.request("GET", "/health").status == 200


def test_health_when_the_database_cannot_be_reached(
    project: Project,
    services: Callable[..., Service],
    server: TestServer,
    database: DatabaseTarget,
) -> None:
    """Connections refused (as a server restarting or a paused compute refuses
    them): /health and the API answer 503 at once; both recover by themselves."""
    ok(project.alembic("upgrade", "head"))
    service = services(project).wait_until_answering()
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
        assert down.body["revision"]["expected"] == script_heads(project)
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
