"""migrationkit's pytest plugin, loaded through the ``pytest11`` entry point.

Fixtures (a project overrides any of them in its own ``conftest.py``):

``migrationkit_settings``  the ``Settings`` read from the environment (session);
``migrationkit_server``    a ``TestServer``: ``DATABASE_URL``'s server, else the
                           embedded one (session);
``migrationkit_database``  an empty database of the test's own, dropped afterwards.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from migrationkit.database import DatabaseTarget
from migrationkit.settings import Settings
from migrationkit.testing.server import TestServer


@pytest.fixture(scope="session")
def migrationkit_settings() -> Settings:
    """Settings from the environment, read once for the whole session."""
    return Settings.from_environ()


@pytest.fixture(scope="session")
def migrationkit_server(
    migrationkit_settings: Settings, pytestconfig: pytest.Config
) -> TestServer:
    """The server tests create their databases on."""
    return TestServer.from_settings(
        migrationkit_settings, project_dir=Path(pytestconfig.rootpath)
    )


@pytest.fixture
def migrationkit_database(migrationkit_server: TestServer) -> Iterator[DatabaseTarget]:
    """An empty database of this test's own, dropped when the test ends."""
    with migrationkit_server.fresh_database() as target:
        yield target
