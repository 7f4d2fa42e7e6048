"""Fresh PostgreSQL databases for tests, on the embedded server or any server.

Every test gets a database of its own, created from ``template0`` and dropped
afterwards, so tests share no state and can run in parallel. With ``DATABASE_URL``
set, the databases are created on that server (its role needs CREATEDB);
otherwise on the project's embedded server.

Connections go through ``migrationkit.database.connect``, the path every entry
point takes: when the server cannot be reached, a test fails with one masked
sentence, not with the driver's frames (whose arguments hold the password).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import URL

from migrationkit.database import (
    DatabaseTarget,
    connect,
    create_engine,
    pgdata_dir,
    resolve_server,
)
from migrationkit.settings import Settings


@dataclass(frozen=True)
class TestServer:
    """A server on which tests may create and drop databases."""

    admin: DatabaseTarget
    settings: Settings

    __test__ = False  # not a pytest class

    @classmethod
    def from_settings(cls, settings: Settings, *, project_dir: Path) -> TestServer:
        if settings.pgdata is None:
            settings = replace(
                settings,
                pgdata=pgdata_dir(settings=settings, config=None, project=project_dir),
            )
        return cls(
            admin=resolve_server(settings=settings, config=None), settings=settings
        )

    def target(self, url: URL) -> DatabaseTarget:
        """``url`` on this server; without a password of its own, and as the admin
        user, it connects with the admin's password."""
        same_user = url.username == self.admin.url.username
        inherited = self.admin.password if url.password is None and same_user else None
        return DatabaseTarget(url, self.admin.source, inherited)

    def engine(self, database: DatabaseTarget | URL | None = None) -> sa.Engine:
        """An engine for ``database`` (default: the admin database)."""
        if database is None:
            database = self.admin
        elif isinstance(database, URL):
            database = self.target(database)
        return create_engine(database, settings=self.settings)

    @contextmanager
    def fresh_database(self, prefix: str = "mk_test") -> Iterator[DatabaseTarget]:
        """Create an empty database, yield it, then drop it (even if still in use).

        Its sessions do not wait for each commit's WAL flush
        (``synchronous_commit = off``, set on the database, so every connection a
        test makes gets it, in-process or not). A test database needs no
        durability: only a crash of the server could lose a commit, and the
        database is dropped afterwards anyway. On a busy disk those waits are a
        large share of a test that migrates, since every revision commits.
        """
        name = f"{prefix}_{uuid.uuid4().hex[:12]}"
        admin = self.engine().execution_options(isolation_level="AUTOCOMMIT")
        with connect(admin, self.admin) as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}" TEMPLATE template0'))
            conn.execute(
                sa.text(f'ALTER DATABASE "{name}" SET synchronous_commit = off')
            )
        try:
            yield self.admin.with_database(name)
        finally:
            with connect(admin, self.admin) as conn:
                conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()
