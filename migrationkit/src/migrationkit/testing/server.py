"""Fresh PostgreSQL databases for tests, on the embedded server or any server.

Every test gets a database of its own, created from ``template0`` and dropped
afterwards, so tests share no state and can run in parallel. With ``DATABASE_URL``
set, the databases are created on that server (its role needs CREATEDB);
otherwise on the project's embedded server.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import URL

from migrationkit.database import (
    DatabaseTarget,
    UrlSource,
    configured_url,
    create_engine,
)
from migrationkit.devserver.server import EmbeddedPostgres
from migrationkit.settings import Settings


@dataclass(frozen=True)
class TestServer:
    """A server on which tests may create and drop databases."""

    admin: DatabaseTarget
    settings: Settings

    __test__ = False  # not a pytest class

    @classmethod
    def from_settings(cls, settings: Settings, *, project_dir: Path) -> TestServer:
        target = configured_url(settings=settings, config=None)
        if target is None:
            server = EmbeddedPostgres(settings.pgdata or project_dir / ".pgdata")
            server.ensure_running()
            target = DatabaseTarget(server.url("postgres"), UrlSource.EMBEDDED)
        return cls(admin=target, settings=settings)

    def engine(self, url: URL | None = None) -> sa.Engine:
        target = self.admin if url is None else DatabaseTarget(url, self.admin.source)
        return create_engine(target, settings=self.settings)

    @contextmanager
    def fresh_database(self, prefix: str = "mk_test") -> Iterator[DatabaseTarget]:
        """Create an empty database, yield it, then drop it (even if still in use)."""
        name = f"{prefix}_{uuid.uuid4().hex[:12]}"
        admin = self.engine().execution_options(isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}" TEMPLATE template0'))
        try:
            yield DatabaseTarget(self.admin.url.set(database=name), self.admin.source)
        finally:
            with admin.connect() as conn:
                conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()
