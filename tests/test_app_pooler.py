"""The service through a real PgBouncer in transaction mode (pool of 2 servers).

What a Neon deployment does: the migration runs on DATABASE_URL_DIRECT, the
service on the pooled DATABASE_URL. Under concurrent requests, far more than
psycopg's prepare threshold of 5, no request fails (server-side prepared
statements would: ``prepared statement "_pg3_0" does not exist``), and the
service rides out a restart of the pooler with 503s, not crashes.

The migration runs with Alembic in this process, and ``main.py``'s application
is served on a thread of it (tests/apphelpers.py): what is tested is the
engine's and the application's behaviour through the pooler.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError

from migrationkit.database import DatabaseTarget, UrlSource
from migrationkit.masking import Secret
from migrationkit.settings import Settings
from migrationkit.testing.pgbouncer import PgBouncer
from service.database import create_application_engine
from tests.apphelpers import AppServer, app_server, migrate
from tests.helpers import REPO, Reply

pytestmark = pytest.mark.slow  # servers, clusters or benchmarks of its own


def plain(url: sa.URL) -> str:
    return url.render_as_string(hide_password=False)


@pytest.fixture
def pooled_service(bouncer: PgBouncer) -> Iterator[AppServer]:
    """The database migrated on the direct URL, the service on the pooled one."""
    migrate(
        REPO,
        Settings(
            database_url=Secret(plain(bouncer.pooled_url)),
            database_url_direct=Secret(plain(bouncer.direct_url)),
            connect_wait=0,
        ),
    )
    # The service is given only the pooled URL, as on Neon.
    with app_server(bouncer.pooled_url) as service:
        yield service


def test_the_service_works_through_the_transaction_pooler(
    pooled_service: AppServer,
) -> None:
    service = pooled_service
    assert service.request("GET", "/health").status == 200

    def session(_number: int) -> list[Reply]:
        token = uuid.uuid4().hex[:12]
        made = service.request(
            "POST",
            "/users",
            {"email": f"w{token}@example.com", "username": f"w{token}"},
        )
        replies = [made]
        user_id = made.body["id"]
        for n in range(12):
            replies.append(service.request("GET", f"/users/{user_id}"))
            replies.append(service.request("GET", "/users?limit=5"))
            replies.append(
                service.request("PATCH", f"/users/{user_id}", {"first_name": f"n{n}"})
            )
        replies.append(service.request("POST", f"/users/{user_id}/deactivate"))
        return replies

    with ThreadPoolExecutor(max_workers=8) as pool:
        replies = [r for batch in pool.map(session, range(16)) for r in batch]
    failures = [r for r in replies if not 200 <= r.status < 300]
    assert not failures, failures[:3]
    assert len(replies) == 16 * 38
    assert "prepared statement" not in service.output()
    assert service.request("GET", "/users?active=false&limit=100").body["items"]


def test_the_service_rides_out_a_pooler_restart(
    pooled_service: AppServer, bouncer: PgBouncer
) -> None:
    service = pooled_service
    assert service.request("GET", "/users").status == 200

    bouncer.stop()  # nothing listens on the pooled port now
    down = service.request("GET", "/health")
    assert down.status == 503
    assert down.body["status"] == "unreachable"
    assert down.body["revision"]["current"] is None
    assert bouncer.role.password not in str(down.body)
    assert service.request("GET", "/users").status == 503

    bouncer.start()
    assert service.request("GET", "/health").status == 200
    assert service.request("GET", "/users").status == 200
    assert service.running()  # it never went down


def repeat_on_two_connections(engine: sa.Engine) -> str | None:
    """The same query 8 times on one connection, then on another: the error, if any."""
    try:
        with engine.connect() as first, engine.connect() as second:
            for connection in (first, second):
                for n in range(8):
                    connection.execute(sa.text("SELECT 1 + :n"), {"n": n})
                    connection.commit()
    except DBAPIError as exc:
        return str(exc.orig)
    finally:
        engine.dispose()
    return None


def test_statements_are_never_prepared_on_the_server(bouncer: PgBouncer) -> None:
    """psycopg prepares a query on its sixth run; through the pooler the second
    connection lands on the server process the first one prepared it on."""
    default = sa.create_engine(bouncer.pooled_url)
    error = repeat_on_two_connections(default)
    assert error is not None
    assert 'prepared statement "_pg3_0"' in error  # why the setting exists
    target = DatabaseTarget(bouncer.pooled_url, UrlSource.ENVIRONMENT)
    service = create_application_engine(target, settings=Settings())
    assert repeat_on_two_connections(service) is None
