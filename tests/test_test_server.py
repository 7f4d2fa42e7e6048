"""The test databases the pytest plugin hands out: their own, and unsynced."""

from __future__ import annotations

import sqlalchemy as sa

from migrationkit.database import connect
from migrationkit.testing.server import TestServer


def _setting(server: TestServer, database: str | None, name: str) -> str:
    target = server.admin if database is None else server.admin.with_database(database)
    engine = server.engine(target)
    try:
        with connect(engine, target) as conn:
            return str(conn.execute(sa.text(f"SHOW {name}")).scalar_one())
    finally:
        engine.dispose()


def test_a_fresh_database_commits_without_waiting_and_only_it(
    server: TestServer,
) -> None:
    before = _setting(server, None, "synchronous_commit")
    with server.fresh_database() as database:
        name = database.url.database
        assert name is not None
        assert _setting(server, name, "synchronous_commit") == "off"
        # The admin database (and with it the developer's own) keeps its setting.
        assert _setting(server, None, "synchronous_commit") == before
    engine = server.engine().execution_options(isolation_level="AUTOCOMMIT")
    try:
        with connect(engine, server.admin) as conn:
            left = conn.execute(
                sa.text("SELECT count(*) FROM pg_database WHERE datname = :n"),
                {"n": name},
            ).scalar_one()
    finally:
        engine.dispose()
    assert left == 0
