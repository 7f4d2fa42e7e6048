"""``run_migrations`` uses the database its caller handed in, or stops.

The probe of issue 16: pytest-alembic hands its engine in wrapped, and an
``env.py`` calling ``run_migrations`` ignored what it did not recognise and
migrated ``DATABASE_URL``'s database instead (the developer's), leaving the test
database empty. Each test here names two databases: the one handed in (meant) and
the one ``DATABASE_URL`` names (not meant), and looks at both afterwards.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.config import Config

from migrationkit.database import DatabaseTarget
from migrationkit.errors import HandedInConnectionError
from migrationkit.runtime.migrate import SETTINGS_ATTRIBUTE
from migrationkit.testing.server import TestServer

EXAMPLE = Path(__file__).resolve().parent / "examples" / "prove" / "good"


@dataclass
class ConnectionExecutor:
    """Shaped as pytest-alembic's executor: the engine under ``.connection``."""

    connection: sa.Engine


@pytest.fixture
def not_meant(server: TestServer) -> Iterator[DatabaseTarget]:
    """The database ``DATABASE_URL`` names: the developer's, in the probe."""
    with server.fresh_database() as target:
        yield target


def config_for(
    server: TestServer, *, handed_in: object, fallback: DatabaseTarget
) -> Config:
    config = Config(str(EXAMPLE / "alembic.ini"))
    config.attributes["connection"] = handed_in
    config.attributes[SETTINGS_ATTRIBUTE] = replace(
        server.settings, database_url=fallback.secret_url()
    )
    return config


def tables(server: TestServer, target: DatabaseTarget) -> set[str]:
    engine = server.engine(target)
    try:
        with engine.connect() as connection:
            return set(sa.inspect(connection).get_table_names())
    finally:
        engine.dispose()


def test_a_wrapped_engine_is_migrated_not_database_url(
    server: TestServer,
    database: DatabaseTarget,
    engine: sa.Engine,
    not_meant: DatabaseTarget,
) -> None:
    config = config_for(
        server, handed_in=ConnectionExecutor(connection=engine), fallback=not_meant
    )
    command.upgrade(config, "head")
    assert "items" in tables(server, database)
    assert tables(server, not_meant) == set()


def test_something_else_handed_in_stops_the_run_before_any_database(
    server: TestServer, database: DatabaseTarget, not_meant: DatabaseTarget
) -> None:
    config = config_for(server, handed_in=object(), fallback=not_meant)
    with pytest.raises(HandedInConnectionError) as raised:
        command.upgrade(config, "head")
    assert 'config.attributes["connection"] holds a object' in str(raised.value)
    assert "Nothing was migrated" in str(raised.value)
    assert tables(server, database) == set()
    assert tables(server, not_meant) == set()


def test_nothing_handed_in_still_means_database_url(
    server: TestServer, not_meant: DatabaseTarget
) -> None:
    """The rule is unchanged when the caller names nothing."""
    config = config_for(server, handed_in=None, fallback=not_meant)
    command.upgrade(config, "head")
    assert "items" in tables(server, not_meant)
