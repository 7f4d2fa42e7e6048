"""migrationkit's pytest plugin, loaded through the ``pytest11`` entry point.

It proves the project's history in the project's own test run, with no test to
write or import: enable it and pytest collects the proof's tests (one head; every
revision upgraded from its parent, then up, down and up again with the catalog
compared; every revision rendered as SQL; the models against the head)::

    [tool.pytest.ini_options]
    migrationkit_prove = true                  # or: pytest --migrationkit-prove
    migrationkit_config = alembic.ini          # the default
    migrationkit_prove_path = tests/conftest.py  # the default

The tests are bound to the file ``migrationkit_prove_path`` names, as
pytest-alembic binds its own, so they see that folder's fixtures (put overrides
in that ``conftest.py``), and they run whenever that folder is collected:
``pytest tests`` proves the history, ``pytest tests/test_models.py`` does not.
They are marked ``migrationkit`` (``-m "not migrationkit"`` leaves them out).

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

Tests that take ``migrationkit_revision`` are parametrized with every revision of
the history, so a new revision is proven the moment its file exists.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path, PurePosixPath
from types import ModuleType

import pytest
from alembic.config import Config
from alembic.script import ScriptDirectory

from migrationkit.database import DatabaseTarget
from migrationkit.prove import DataHook, Prover
from migrationkit.prove.scratch import ScratchServer
from migrationkit.settings import Settings
from migrationkit.testing import prove_tests
from migrationkit.testing.server import TestServer

CONFIG_OPTION = "migrationkit_config"
PROVE_OPTION = "migrationkit_prove"
PATH_OPTION = "migrationkit_prove_path"
DEFAULT_PATH = "tests/conftest.py"
MARKER = "migrationkit"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addini(
        CONFIG_OPTION,
        "the project's alembic.ini, relative to the rootdir (default: alembic.ini)",
        default="alembic.ini",
    )
    parser.addini(
        PROVE_OPTION,
        "collect migrationkit's proof of the history (default: false)",
        type="bool",
        default=False,
    )
    parser.addini(
        PATH_OPTION,
        "the file, relative to the rootdir, the proof's tests are collected under "
        f"and take their fixtures from (default: {DEFAULT_PATH})",
        default=DEFAULT_PATH,
    )
    group = parser.getgroup("migrationkit")
    group.addoption(
        "--migrationkit-prove",
        action="store_true",
        default=False,
        help=f"collect migrationkit's proof of the history (the {PROVE_OPTION} ini "
        "option, from the command line)",
    )
    group.addoption(
        "--migrationkit-prove-path",
        default=None,
        help=f"where the proof's tests are collected (overrides {PATH_OPTION})",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", f"{MARKER}: the history's proof, collected by migrationkit's plugin"
    )


def proof_path(config: pytest.Config) -> PurePosixPath | None:
    """Where the proof is collected, relative to the rootdir; None when it is off."""
    if not (config.getoption("--migrationkit-prove") or config.getini(PROVE_OPTION)):
        return None
    given = config.getoption("--migrationkit-prove-path") or config.getini(PATH_OPTION)
    return PurePosixPath(str(given))


def pytest_sessionstart(session: pytest.Session) -> None:
    """An enabled proof bound to a missing file would collect nothing and say
    nothing: stop instead, before any test runs."""
    path = proof_path(session.config)
    if path is not None and not (session.config.rootpath / path).is_file():
        raise pytest.UsageError(
            f"migrationkit: {PROVE_OPTION} is on, but {path} (the "
            f"{PATH_OPTION} option, relative to {session.config.rootpath}) is not "
            "a file; point it at the conftest.py whose folder holds your tests."
        )


def pytest_collect_file(
    file_path: Path, parent: pytest.Collector
) -> pytest.Module | None:
    path = proof_path(parent.config)
    if path is None:
        return None
    try:
        relative = PurePosixPath(file_path.relative_to(parent.config.rootpath))
    except ValueError:  # a file outside the rootdir
        return None
    if relative != path:
        return None
    proof: pytest.Module = ProofModule.from_parent(
        parent, path=file_path, nodeid=f"{relative}::{MARKER}"
    )
    proof.add_marker(MARKER)
    return proof


class ProofModule(pytest.Module):
    """The tests of ``migrationkit.testing.prove_tests``, collected as if they were
    written in the bound file (so that file's folder lends them its fixtures)."""

    def _getobj(self) -> ModuleType:
        return prove_tests


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
