"""Shared fixtures: a real PostgreSQL server and a fresh database per test."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlalchemy as sa

from migrationkit.database import DatabaseTarget
from migrationkit.settings import Settings
from migrationkit.testing import TestServer

REPO = Path(__file__).resolve().parent.parent
PROJECT_FILES = ("alembic", "alembic.ini", "models", "verify_migration.py", "main.py")


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


@dataclass(frozen=True)
class Project:
    """A directory holding an Alembic project, and a way to run commands in it."""

    path: Path
    database_url: str | None

    def env(self, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
        env["PYTHONPATH"] = str(REPO)
        if self.database_url is not None:
            env["DATABASE_URL"] = self.database_url
        env.update(extra)
        return env

    def run(
        self, *args: str, env: dict[str, str] | None = None, timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        """Run ``python -m <args>`` (or a script) in the project; never raises."""
        return subprocess.run(
            [sys.executable, *args],
            cwd=self.path,
            env=env if env is not None else self.env(),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def alembic(
        self, *args: str, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        return self.run("-m", "alembic", *args, env=env)

    def popen_alembic(self, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [sys.executable, "-m", "alembic", *args],
            cwd=self.path,
            env=self.env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )


def copy_project(destination: Path, files: Sequence[str] = PROJECT_FILES) -> Path:
    """Copy the project's own files (not .venv, not .pgdata) to ``destination``."""
    destination.mkdir(parents=True, exist_ok=True)
    for name in files:
        source = REPO / name
        if source.is_dir():
            shutil.copytree(
                source, destination / name, ignore=shutil.ignore_patterns("__pycache__")
            )
        elif source.exists():
            shutil.copy2(source, destination / name)
    return destination


@pytest.fixture
def project(tmp_path: Path, database: DatabaseTarget) -> Project:
    """A private copy of this project, pointed at this test's database."""
    url = database.url.render_as_string(hide_password=False)
    return Project(copy_project(tmp_path / "project"), url)


@pytest.fixture
def repo_project(database: DatabaseTarget) -> Project:
    """The repository itself (read-only use), pointed at this test's database."""
    return Project(REPO, database.url.render_as_string(hide_password=False))
