"""The benchmark's own databases, on whatever server the project is configured for.

The benchmark never touches the developer's database: it asks the project's usual
rule (``DATABASE_URL``, else alembic.ini, else the embedded server) only *which
server* to use, then creates ``<prefix>_safe`` and ``<prefix>_naive`` there, drops
and recreates them on every run, and drops them afterwards unless told to keep
them.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from typing import Any

import psycopg
import sqlalchemy as sa
from psycopg import sql
from sqlalchemy.engine import URL

from migrationkit.database import (
    DatabaseTarget,
    connect,
    create_engine,
    describe_location,
    mask_secrets,
)
from migrationkit.errors import DatabaseConnectionError, MigrationKitError
from migrationkit.masking import Secret
from migrationkit.settings import Settings

_PREFIX = re.compile(r"^[a-z_][a-z0-9_]{0,40}$")


def benchmark_settings(*, database_url: str | None) -> Settings:
    """The environment's settings, with ``--database-url`` (when given) winning.

    It replaces ``DATABASE_URL_DIRECT`` too, which would otherwise win over it.
    """
    settings = Settings.from_environ()
    if not database_url:
        return settings
    return dataclasses.replace(
        settings,
        database_url=Secret(database_url, remember_value=False),
        database_url_direct=None,
    )


def check_prefix(prefix: str) -> str:
    """Scratch names are built from the prefix, so it must be a plain identifier."""
    if not _PREFIX.match(prefix):
        raise MigrationKitError(
            f"--db-prefix {prefix!r} is not usable as a database name prefix: use "
            "lower-case letters, digits and underscores (at most 41), e.g. bench_ci."
        )
    return prefix


@dataclass(frozen=True)
class ScratchServer:
    """A server on which the benchmark may create and drop its own databases."""

    home: DatabaseTarget
    """The configured (developer's) database: used only to reach the server."""

    settings: Settings

    def open_check(self) -> str:
        """Connect once with clear errors; returns the server version string."""
        engine = create_engine(self.home, settings=self.settings)
        try:
            with connect(engine, self.home) as conn:
                version = conn.execute(sa.text("SHOW server_version")).scalar_one()
        finally:
            engine.dispose()
        return str(version)

    def target(self, name: str) -> DatabaseTarget:
        return self.home.with_database(name)

    def connect_kwargs(self, name: str) -> dict[str, Any]:
        """psycopg keyword arguments for database ``name`` (the same rules SQLAlchemy
        applies to the URL: socket folders in ``?host=``, ports, passwords)."""
        url = self.home.url.set(database=name)
        engine = sa.create_engine(url)
        try:
            _, kwargs = engine.dialect.create_connect_args(url)
        finally:
            engine.dispose()
        kwargs.pop("context", None)  # SQLAlchemy's adapters, not a libpq setting
        if self.home.password:  # kept apart from the URL (DatabaseTarget)
            kwargs["password"] = self.home.password.reveal()
        kwargs.setdefault(
            "connect_timeout", max(1, round(self.settings.connect_timeout))
        )
        return dict(kwargs)

    def connect(
        self, name: str, *, application_name: str, autocommit: bool = True
    ) -> psycopg.Connection[tuple[Any, ...]]:
        """A psycopg connection to ``name`` whose failures read like the project's."""
        try:
            return psycopg.connect(
                **self.connect_kwargs(name),
                autocommit=autocommit,
                application_name=application_name,
            )
        except psycopg.OperationalError as exc:
            detail = str(exc).strip().splitlines()[0] if str(exc).strip() else "?"
            raise DatabaseConnectionError(
                f"Cannot connect to benchmark database {name!r} on "
                f"{mask_url_host(self.home.url)}: "
                f"{mask_secrets(detail, self.home.password)}"
            ) from None

    def recreate(self, name: str) -> DatabaseTarget:
        """Drop ``name`` if a previous run left it, then create it empty."""
        self._refuse_home(name)
        with self.connect(self.home.url.database or "", application_name="bench") as c:
            c.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                    sql.Identifier(name)
                )
            )
            try:
                c.execute(
                    sql.SQL("CREATE DATABASE {} TEMPLATE template0").format(
                        sql.Identifier(name)
                    )
                )
            except psycopg.errors.InsufficientPrivilege:
                raise MigrationKitError(
                    f"The role {self.home.url.username!r} may not create databases, "
                    "and the benchmark needs scratch databases of its own. Grant "
                    "CREATEDB, or point --database-url / DATABASE_URL at a server "
                    "where you may create databases."
                ) from None
        return self.target(name)

    def drop(self, name: str) -> None:
        self._refuse_home(name)
        with self.connect(self.home.url.database or "", application_name="bench") as c:
            c.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                    sql.Identifier(name)
                )
            )

    def _refuse_home(self, name: str) -> None:
        if name == self.home.url.database:
            raise MigrationKitError(
                f"The benchmark would drop {name!r}, which is the configured "
                "database itself. Choose another --db-prefix."
            )


def mask_url_host(url: URL) -> str:
    """Where the server is, for messages: host and port or socket, never secrets."""
    return describe_location(url)
