"""The harness's own databases: created on the project's server, dropped when done.

The harness never touches the project's database. It asks the usual rule
(``DATABASE_URL``, else alembic.ini, else the embedded server) only which *server*
to use, and creates databases there named ``mkprove_<random>_<n>``: random so
that parallel runs (pytest-xdist workers, two developers on one server) never
meet, and recognisable so a person can tell what they are. Every database it
created is dropped at the end, even after a failure.

A copy (``CREATE DATABASE ... TEMPLATE``) needs its source to have no session
open, so connections to scratch databases are opened per use and closed
(NullPool), never pooled; only the admin session, on a database that is never
copied, is kept for the run.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import sqlalchemy as sa

from migrationkit.database import DatabaseTarget, connect, create_engine
from migrationkit.errors import MigrationKitError
from migrationkit.settings import Settings

PREFIX = "mkprove"


@dataclass
class ScratchServer:
    """Creates, copies, renames and drops the harness's databases on one server."""

    admin: DatabaseTarget
    """Any database on the server: used only to run CREATE/DROP DATABASE."""
    settings: Settings
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex[:10])
    created: list[str] = field(default_factory=list)
    _counter: int = 0
    _admin_engine: sa.Engine | None = None
    _admin_connection: sa.Connection | None = None

    def new_name(self) -> str:
        self._counter += 1
        return f"{PREFIX}_{self.run_id}_{self._counter}"

    def target(self, name: str) -> DatabaseTarget:
        return DatabaseTarget(self.admin.url.set(database=name), self.admin.source)

    def engine(self, name: str) -> sa.Engine:
        return create_engine(_unsynced(self.target(name)), settings=self.settings)

    def create(self, *, template: str | None) -> str:
        """A new database: a copy of ``template``, or empty (from template0)."""
        name = self.new_name()
        source = template or "template0"
        self._admin(f'CREATE DATABASE "{name}" TEMPLATE "{source}"')
        self.created.append(name)
        return name

    def rename(self, *, old: str, new: str) -> None:
        self._admin(f'ALTER DATABASE "{old}" RENAME TO "{new}"')
        self.created[self.created.index(old)] = new

    def drop(self, name: str) -> None:
        self._admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if name in self.created:
            self.created.remove(name)

    def close(self) -> None:
        """Drop every database this object created (last first), then disconnect."""
        try:
            for name in reversed(list(self.created)):
                self.drop(name)
        finally:
            if self._admin_connection is not None:
                self._admin_connection.close()
                self._admin_connection = None
            if self._admin_engine is not None:
                self._admin_engine.dispose()
                self._admin_engine = None

    @contextmanager
    def connection(self, name: str) -> Iterator[sa.Connection]:
        """A connection to ``name``, closed (not pooled) when the block ends."""
        engine = self.engine(name)
        try:
            with connect(engine, self.target(name)) as connection:
                yield connection
        finally:
            engine.dispose()

    def server_version(self) -> str:
        return str(
            self._admin_session().execute(sa.text("SHOW server_version")).scalar_one()
        )

    def _admin_session(self) -> sa.Connection:
        """One AUTOCOMMIT connection to the admin database, kept for the run."""
        if self._admin_connection is None:
            self._admin_engine = create_engine(
                _unsynced(self.admin), settings=self.settings
            )
            self._admin_connection = connect(
                self._admin_engine, self.admin
            ).execution_options(isolation_level="AUTOCOMMIT")
        return self._admin_connection

    def _admin(self, statement: str) -> None:
        try:
            self._admin_session().execute(sa.text(statement))
        except sa.exc.DBAPIError as exc:
            raise MigrationKitError(
                f"The harness could not prepare its scratch databases on "
                f"{self.admin.masked}: {str(exc.orig).strip().splitlines()[0]}. "
                "Its role needs CREATEDB (or use the embedded server: unset "
                "DATABASE_URL)."
            ) from None


@dataclass
class ScratchDatabase:
    """One scratch database, its connection, and the revisions applied in it."""

    name: str
    applied: set[str] = field(default_factory=set)
    prepared: bool = False
    """The project's setup statements ran in it (or in the one it copies)."""
    engine: sa.Engine | None = None
    connection: sa.Connection | None = None

    def disconnect(self) -> None:
        """Close the session: a database being copied must have none open."""
        if self.connection is not None:
            self.connection.close()
            self.connection = None
        if self.engine is not None:
            self.engine.dispose()
            self.engine = None


def _unsynced(target: DatabaseTarget) -> DatabaseTarget:
    """Sessions that do not wait for the WAL to reach the disk at each commit.

    Scratch databases need no durability, and on a busy disk the wait for each
    commit's WAL flush (a migration commits several times) dominates the run.
    ``synchronous_commit = off`` is a session setting: nothing else on the
    server is affected, and a crash could only lose the harness's own work.
    """
    options = target.url.query.get("options")
    extra = "-c synchronous_commit=off"
    given = options if isinstance(options, str) else ""
    url = target.url.update_query_dict({"options": f"{given} {extra}".strip()})
    return DatabaseTarget(url, target.source)
