"""Shared fixtures: a real PostgreSQL server and a fresh database per test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from migrationkit.database import DatabaseTarget
from migrationkit.settings import Settings
from migrationkit.testing.server import TestServer
from tests.helpers import REPO, Project, copy_project


@pytest.fixture(scope="session")
def settings() -> Settings:
    return Settings.from_environ()


@pytest.fixture(scope="session")
def server(settings: Settings) -> TestServer:
    return TestServer.from_settings(settings, project_dir=REPO)


@pytest.fixture
def database(server: TestServer) -> Iterator[DatabaseTarget]:
    """An empty database of this test's own."""
    with server.fresh_database() as target:
        yield target


@pytest.fixture
def engine(server: TestServer, database: DatabaseTarget) -> Iterator[sa.Engine]:
    eng = server.engine(database.url)
    yield eng
    eng.dispose()


@pytest.fixture
def project(tmp_path: Path, database: DatabaseTarget) -> Project:
    """A private copy of this project, pointed at this test's database."""
    url = database.url.render_as_string(hide_password=False)
    return Project(copy_project(tmp_path / "project"), url)


@pytest.fixture
def repo_project(database: DatabaseTarget) -> Project:
    """The repository itself (read-only use), pointed at this test's database."""
    return Project(REPO, database.url.render_as_string(hide_password=False))
