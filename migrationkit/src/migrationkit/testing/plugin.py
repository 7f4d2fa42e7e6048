"""migrationkit's pytest plugin, loaded through the ``pytest11`` entry point.

Fixtures (a project overrides any of them in its own ``conftest.py``):

``migrationkit_settings``    the ``Settings`` read from the environment (session);
``migrationkit_server``      a ``TestServer``: ``DATABASE_URL``'s server, else the
                             embedded one (session);
``migrationkit_database``    an empty database of the test's own, dropped afterwards;
``migrationkit_config``      the project's Alembic ``Config`` (session; default: the
                             ``migrationkit_config`` ini option, ``alembic.ini``);
``migrationkit_data_hooks``  the ``DataHook`` s the proof runs (session; none);
``migrationkit_prover``      the ``Prover`` of that history on that server, with its
                             scratch database (session: one per xdist worker,
                             dropped at the end).

The proof's tests are plain functions in ``migrationkit.testing.prove_tests``; a
project imports them into one of its test modules. Tests that take
``migrationkit_revision`` are parametrized with every revision of the history
named by the ``migrationkit_config`` ini option, so a new revision is proven the
moment its file exists.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
from alembic.config import Config
from alembic.script import ScriptDirectory

from migrationkit.database import DatabaseTarget
from migrationkit.prove import DataHook, Prover
from migrationkit.prove.scratch import ScratchServer
from migrationkit.settings import Settings
from migrationkit.testing.server import TestServer

CONFIG_OPTION = "migrationkit_config"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addini(
        CONFIG_OPTION,
        "the project's alembic.ini, relative to the rootdir (default: alembic.ini)",
        default="alembic.ini",
    )


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """One test per revision for every test that takes ``migrationkit_revision``."""
    if "migrationkit_revision" not in metafunc.fixturenames:
        return
    config = _ini_config(metafunc.config)
    script = ScriptDirectory.from_config(config)
    revisions = [s.revision for s in reversed(list(script.walk_revisions()))]
    metafunc.parametrize("migrationkit_revision", revisions, ids=revisions)


def _ini_config(pytestconfig: pytest.Config) -> Config:
    path = Path(pytestconfig.rootpath) / str(pytestconfig.getini(CONFIG_OPTION))
    if not path.is_file():
        raise pytest.UsageError(
            f"migrationkit: no Alembic configuration at {path}; set the "
            f"{CONFIG_OPTION} ini option to your project's alembic.ini."
        )
    return Config(str(path))


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


@pytest.fixture(scope="session")
def migrationkit_config(pytestconfig: pytest.Config) -> Config:
    """The project's Alembic Config; override it to add ``-x`` options etc."""
    return _ini_config(pytestconfig)


@pytest.fixture(scope="session")
def migrationkit_data_hooks() -> Sequence[DataHook]:
    """The data hooks of the proof; override it to prove data migrations."""
    return ()


@pytest.fixture(scope="session")
def migrationkit_prover(
    migrationkit_config: Config,
    migrationkit_server: TestServer,
    migrationkit_data_hooks: Sequence[DataHook],
) -> Iterator[Prover]:
    """The proof of the history, walking this worker's own scratch database."""
    scratch = ScratchServer(
        admin=migrationkit_server.admin, settings=migrationkit_server.settings
    )
    prover = Prover(migrationkit_config, scratch=scratch, hooks=migrationkit_data_hooks)
    try:
        yield prover
    finally:
        prover.close()
