"""In-process stand-ins for the processes the application's tests used to start.

Starting ``main.py``, ``alembic`` or ``python -m migrationkit`` as a process costs
about a second of interpreter start and imports each time; most tests are about
what our code answers, not about the process. These helpers run the same code in
the test's own process, as faithfully as a process would run it:

- ``migrate`` runs Alembic's ``command`` functions on a project's Config, with
  the test database handed in through ``config.attributes`` (never os.environ);
- ``migrated_template`` / ``database_from_template`` migrate one database per
  test module and give every test its own copy (``CREATE DATABASE ... TEMPLATE``),
  so a test starts at head in a fraction of a migration's time, and tests share
  no rows;
- ``alembic_cli`` and ``verify_script`` are entry points for
  tests/in_process.py's ``run_main`` (``main(argv)`` with the environment, the
  working folder, stdout, stderr and logging a fresh process would have);
- ``AppServer`` serves ``main.py``'s application with uvicorn on a thread, over
  real HTTP on a loopback port, against one database.

Each test file keeps at least one test of the real process (``main.py``,
``verify_migration.py``, ``python -m migrationkit``) end to end.
"""

from __future__ import annotations

import contextlib
import io
import logging
import runpy
import socket
import threading
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path

import sqlalchemy as sa
import uvicorn
from alembic import command
from alembic.config import CommandLine, Config
from psycopg import sql

from migrationkit.database import DatabaseTarget, connect
from migrationkit.masking import Secret
from migrationkit.runtime.migrate import SETTINGS_ATTRIBUTE
from migrationkit.settings import Settings
from migrationkit.testing.server import TestServer
from service.app import create_app
from service.database import open_database
from tests.helpers import REPO, Reply, http, wait_for
from tests.in_process import EntryPoint, process_state_restored

# -- Alembic in-process ----------------------------------------------------------


def alembic_config(project: Path, database: Secret | Settings) -> Config:
    """The project's Config, its database handed in as migrationkit's Settings
    (a URL alone: no waiting for a server that is down)."""
    config = Config(str(project / "alembic.ini"), stdout=io.StringIO())
    settings = (
        database
        if isinstance(database, Settings)
        else Settings(database_url=database, connect_wait=0)
    )
    config.attributes[SETTINGS_ATTRIBUTE] = settings
    return config


def alembic(project: Path, database: Secret | Settings, name: str, *args: str) -> None:
    """``alembic <name> <args>`` (upgrade, downgrade, stamp) in this process."""
    config = alembic_config(project, database)
    with process_state_restored():
        getattr(command, name)(config, *args)


def migrate(
    project: Path,
    database: Secret | Settings,
    revision: str = "head",
    *,
    down: bool = False,
) -> None:
    """``alembic upgrade <revision>`` (or ``downgrade``), in this process."""
    alembic(project, database, "downgrade" if down else "upgrade", revision)


@contextlib.contextmanager
def migrated_template(
    server: TestServer, *, project: Path = REPO, revision: str = "head"
) -> Iterator[str]:
    """A database migrated to ``revision`` once, for copies: yields its name.

    Nothing may stay connected to it (PostgreSQL copies only an idle template),
    so the migration's engine is disposed before the name is handed out.
    """
    with server.fresh_database(prefix="mk_template") as template:
        migrate(project, template.secret_url(), revision)
        assert template.url.database is not None
        yield template.url.database


@contextlib.contextmanager
def database_from_template(
    server: TestServer, template: str, prefix: str = "mk_test"
) -> Iterator[DatabaseTarget]:
    """A database of the test's own, a copy of ``template``; dropped afterwards."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin = server.engine().execution_options(isolation_level="AUTOCOMMIT")
    create = sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
        sql.Identifier(name), sql.Identifier(template)
    )
    drop = sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
        sql.Identifier(name)
    )
    try:
        with connect(admin, server.admin) as conn:
            conn.exec_driver_sql(create.as_string())
        yield server.admin.with_database(name)
    finally:
        with connect(admin, server.admin) as conn:
            conn.exec_driver_sql(drop.as_string())
        admin.dispose()


# -- an entry point's main() in-process -------------------------------------------


def alembic_cli(argv: Sequence[str]) -> int:
    """``alembic <argv>``, for ``run_main``: it exits only on failure (-1: 255)."""
    CommandLine(prog="alembic").main(argv=list(argv))
    return 0


def verify_script(project: Path) -> EntryPoint:
    """The ``main`` of the project's own ``verify_migration.py`` (its file, so its
    default alembic.ini is the project's), loaded as a module of its own."""
    namespace = runpy.run_path(str(project / "verify_migration.py"))
    entry: EntryPoint = namespace["main"]
    return entry


# -- the application over HTTP, on a thread ------------------------------------


class AppServer:
    """``main.py``'s application (``create_app(open_database(...))``) served by
    uvicorn on a thread of this process, over HTTP on a loopback port.

    It opens the database as ``main.py`` does, so a start on a database that is
    not at head raises ``SchemaNotAtHeadError`` here instead of exiting 1. Log
    records of the service and of uvicorn while it runs are kept for ``output``.
    """

    def __init__(self, settings: Settings, *, alembic_ini: Path) -> None:
        database = open_database(settings, alembic_ini=alembic_ini)
        self.socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.socket.bind(("127.0.0.1", 0))
        self.port: int = self.socket.getsockname()[1]
        self._log = io.StringIO()
        self._handler = logging.StreamHandler(self._log)
        self._handler.setFormatter(logging.Formatter("%(levelname)s:  %(message)s"))
        self._loggers = [logging.getLogger(name) for name in ("service", "uvicorn")]
        for logger in self._loggers:
            logger.addHandler(self._handler)
        # log_config=None: uvicorn leaves this process's logging configuration alone.
        self.server = uvicorn.Server(
            uvicorn.Config(
                create_app(database),
                log_config=None,
                timeout_graceful_shutdown=10,
            )
        )
        self.thread = threading.Thread(
            target=self.server.run,
            kwargs={"sockets": [self.socket]},
            name=f"uvicorn:{self.port}",
            daemon=True,
        )
        self.thread.start()
        try:
            wait_for(
                lambda: self.server.started or not self.thread.is_alive(),
                what="uvicorn to start",
            )
            assert self.server.started, self.output()
        except BaseException:
            self.stop()
            database.engine.dispose()  # no lifespan ran to do it
            raise

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def request(self, method: str, path: str, body: object = None) -> Reply:
        return http(method, self.url(path), body)

    def output(self) -> str:
        return self._log.getvalue()

    def running(self) -> bool:
        return self.thread.is_alive() and not self.server.should_exit

    def stop(self) -> None:
        """A graceful stop (the lifespan's end disposes of the engine)."""
        self.server.should_exit = True
        self.thread.join(timeout=30)
        self.socket.close()
        for logger in self._loggers:
            logger.removeHandler(self._handler)
        assert not self.thread.is_alive(), "uvicorn did not stop in 30 s"


@contextlib.contextmanager
def app_server(
    database: DatabaseTarget | sa.URL | Secret,
    *,
    alembic_ini: Path = REPO / "alembic.ini",
) -> Iterator[AppServer]:
    """An ``AppServer`` on ``database`` for the length of the block."""
    if isinstance(database, DatabaseTarget):
        url = database.secret_url()
    elif isinstance(database, sa.URL):
        url = Secret(database.render_as_string(hide_password=False))
    else:
        url = database
    server = AppServer(
        Settings(database_url=url, connect_wait=0), alembic_ini=alembic_ini
    )
    try:
        yield server
    finally:
        server.stop()
