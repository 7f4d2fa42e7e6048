"""Shared fixtures: a real PostgreSQL server and a fresh database per test."""

from __future__ import annotations

import compileall
import sys
import sysconfig
import uuid
from collections.abc import Callable, Generator, Iterator, Sequence
from contextlib import ExitStack
from pathlib import Path

import pytest
import sqlalchemy as sa

import migrationkit
from migrationkit.database import DatabaseTarget
from migrationkit.errors import MigrationKitError
from migrationkit.masking import Secret
from migrationkit.prove import DataHook
from migrationkit.prove.scratch import ScratchServer
from migrationkit.settings import Settings
from migrationkit.testing.pgbouncer import (
    LoginRole,
    PgBouncer,
    login_role,
    pgbouncer_binary,
)
from migrationkit.testing.server import TestServer
from tests.helpers import REPO, Project, Role, Service, copy_project
from tests.test_history import DATA_HOOKS
from tests.wheel import build_distributions


def pytest_configure(config: pytest.Config) -> None:
    """Compile the environment's packages and migrationkit to bytecode once,
    before any test.

    The suite starts hundreds of Python processes (alembic, migrationkit, the
    service), and each imports SQLAlchemy, Alembic and migrationkit. Where
    PYTHONDONTWRITEBYTECODE is set, code without .pyc files would be compiled
    again by every one of them (migrationkit, installed editable, has none).
    Compiling here (the controller only; a no-op when the files are current)
    replaces uv's ``compile-bytecode`` setting, which printed "Bytecode compiled
    ..." on every ``uv run``.
    """
    if hasattr(config, "workerinput") or not sys.flags.dont_write_bytecode:
        return
    for folder in (sysconfig.get_paths()["purelib"], migrationkit.__path__[0]):
        compileall.compile_dir(folder, quiet=2, workers=0)


@pytest.hookimpl(wrapper=True)
def pytest_collection(session: pytest.Session) -> Generator[None, object, object]:
    """Keep pytest's rewritten test modules (``__pycache__``, git-ignored) even
    where PYTHONDONTWRITEBYTECODE is set: otherwise every xdist worker and every
    nested pytest run rewrites every test module's asserts again, seconds each."""
    writes = sys.dont_write_bytecode
    sys.dont_write_bytecode = False
    try:
        return (yield)
    finally:
        sys.dont_write_bytecode = writes


_HOME_FOLDERS = tuple(
    Path(folder).resolve()
    for folder in {sys.prefix, sys.base_prefix, *sysconfig.get_paths().values()}
)
_EXAMPLES = REPO / "tests" / "examples"


def _foreign(module: object) -> bool:
    """A module loaded from another project: a test's copy, an example."""
    path = getattr(module, "__file__", None)
    if path is None:
        return False
    where = Path(path).resolve()
    if where.is_relative_to(_EXAMPLES):
        return True
    return not where.is_relative_to(REPO) and not any(
        where.is_relative_to(folder) for folder in _HOME_FOLDERS
    )


@pytest.fixture(autouse=True)
def _other_projects_modules_put_back() -> Iterator[None]:
    """Proving another project in this process (an example, a copy in tmp_path)
    imports its ``models`` and other top-level modules under the same names as
    this repository's. Left in ``sys.modules``, a later test in this worker
    would compare this repository's database with an example's models. After
    each test, modules loaded from elsewhere are dropped and those they
    replaced put back; the toolkit's and installed ones stay (a second import
    of migrationkit.ops would be refused by Alembic's dispatch tables).

    ``sys.path`` is put back too, and the import system's finders for relative
    entries are forgotten: Alembic prepends ``prepend_sys_path = .`` on every
    command, and a finder cached for ``.`` while the working folder was an
    example's would go on finding that example's ``models`` from another folder.
    """
    before = dict(sys.modules)
    search_path = list(sys.path)
    yield
    sys.path[:] = search_path
    for entry in [e for e in sys.path_importer_cache if not Path(e).is_absolute()]:
        del sys.path_importer_cache[entry]
    for name, module in list(sys.modules.items()):
        if before.get(name) is module or not _foreign(module):
            continue
        del sys.modules[name]
        if name in before:
            sys.modules[name] = before[name]


# The server and the databases are migrationkit's plugin's (the fixtures an adopter
# gets); these tests use them under short names.


@pytest.fixture(scope="session")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(wheel, sdist) of migrationkit, built once for every test that needs them."""
    return build_distributions(tmp_path_factory.mktemp("dist"))


@pytest.fixture(scope="session")
def settings(migrationkit_settings: Settings) -> Settings:
    return migrationkit_settings


@pytest.fixture(scope="session")
def server(migrationkit_server: TestServer) -> TestServer:
    return migrationkit_server


@pytest.fixture
def database(migrationkit_database: DatabaseTarget) -> DatabaseTarget:
    """An empty database of this test's own (dropped when the test ends)."""
    return migrationkit_database


@pytest.fixture(scope="session")
def migrationkit_data_hooks() -> Sequence[DataHook]:
    """The plugin's proof of the history (``migrationkit_prove`` in pyproject.toml,
    collected here) runs the data hooks of 003, 007 and 009 too."""
    return DATA_HOOKS


@pytest.fixture(scope="module")
def at_head(server: TestServer) -> Iterator[str]:
    """A database migrated to head once per module (and worker): the template
    that tests/apphelpers.py's ``database_from_template`` copies for each test."""
    # Imported here: apphelpers brings the application and uvicorn, which most
    # modules do not need.
    from tests.apphelpers import migrated_template  # noqa: PLC0415

    with migrated_template(server) as name:
        yield name


@pytest.fixture
def scratch(server: TestServer) -> Iterator[ScratchServer]:
    """A prove scratch server on this run's server (its databases dropped after)."""
    scratch = ScratchServer(admin=server.admin, settings=server.settings)
    yield scratch
    scratch.close()


@pytest.fixture
def engine(server: TestServer, database: DatabaseTarget) -> Iterator[sa.Engine]:
    eng = server.engine(database)
    yield eng
    eng.dispose()


@pytest.fixture
def project(tmp_path: Path, database: DatabaseTarget) -> Project:
    """A private copy of this project, pointed at this test's database."""
    return Project(copy_project(tmp_path / "project"), database.secret_url())


@pytest.fixture
def repo_project(database: DatabaseTarget) -> Project:
    """The repository itself (read-only use), pointed at this test's database."""
    return Project(REPO, database.secret_url())


@pytest.fixture
def services(tmp_path: Path) -> Iterator[Callable[..., Service]]:
    """Start ``main.py`` in a project: ``services(project, env=...)``; all are
    stopped when the test ends. The caller waits for them (``wait_until_answering``)
    so that several can start at once."""
    started: list[Service] = []

    def start(project: Project, *, env: dict[str, str] | None = None) -> Service:
        log = tmp_path / f"service-{len(started)}.log"
        service = Service(project, env=env or project.env(), log=log)
        started.append(service)
        return service

    yield start
    for service in started:
        service.stop()


@pytest.fixture
def role(server: TestServer, database: DatabaseTarget) -> Iterator[LoginRole]:
    """A login role with a password that owns this test's database."""
    with ExitStack() as stack:
        try:
            created = stack.enter_context(login_role(server, database))
        except MigrationKitError as exc:  # a DATABASE_URL server without CREATEROLE
            pytest.skip(str(exc))
        yield created


@pytest.fixture
def bouncer(database: DatabaseTarget, role: LoginRole) -> Iterator[PgBouncer]:
    """PgBouncer in transaction mode (pool of 2) in front of this test's database."""
    if pgbouncer_binary() is None:
        pytest.skip("pgbouncer is not installed (apt-get install pgbouncer)")
    with PgBouncer(server=database.url, role=role, pool_mode="transaction") as pooler:
        yield pooler


@pytest.fixture
def password_role(server: TestServer, database: DatabaseTarget) -> Iterator[Role]:
    """A login role with a password, which may create objects in this test's
    database only; what it owns there and the role itself are dropped afterwards."""
    role = Role(f"mk_pw_{uuid.uuid4().hex[:10]}", Secret(f"Pw-{uuid.uuid4().hex}"))
    admin = server.engine().execution_options(isolation_level="AUTOCOMMIT")
    here = server.engine(database).execution_options(isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        # Utility statements take no bind parameters; the password is hex.
        conn.execute(
            sa.text(
                f"CREATE ROLE {role.name} LOGIN PASSWORD '{role.password.reveal()}'"
            )
        )
    with here.connect() as conn:
        conn.execute(sa.text(f"GRANT CREATE, USAGE ON SCHEMA public TO {role.name}"))
    try:
        yield role
    finally:
        with here.connect() as conn:
            conn.execute(sa.text(f"DROP OWNED BY {role.name}"))
        with admin.connect() as conn:
            conn.execute(sa.text(f"DROP ROLE IF EXISTS {role.name}"))
        here.dispose()
        admin.dispose()
