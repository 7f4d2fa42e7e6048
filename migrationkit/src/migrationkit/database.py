"""Where the database comes from, and how to talk about it without leaking secrets.

One rule decides the database for every entry point (``alembic/env.py``,
``verify_migration.py``, the tests):

1. ``DATABASE_URL`` from the environment, if set;
2. else ``sqlalchemy.url`` from alembic.ini, if set;
3. else the embedded PostgreSQL server kept in ``.pgdata/`` beside alembic.ini,
   started on first use (see ``migrationkit.devserver.server``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, OperationalError
from sqlalchemy.pool import NullPool

from migrationkit.errors import DatabaseConnectionError, DatabaseUrlError
from migrationkit.settings import Settings

if TYPE_CHECKING:
    from alembic.config import Config

APPLICATION_NAME = "migrationkit"

# ``user:password@`` in a URL. An unencoded ``@`` inside the password (a common
# mistake) must not leave the rest of the password visible, so further ``@``
# segments are absorbed while another ``@`` follows before any ``/?#``.
_PASSWORD_IN_TEXT = re.compile(
    r"(?P<head>://[^:/@\s]*:)"
    r"(?P<password>[^@\s]*(?:@[^@\s/?#]*(?=@))*)"
    r"(?P<tail>@)"
)
# ``?password=...`` in a URL query, or ``password=...`` in a libpq keyword string:
# libpq accepts both, and SQLAlchemy's hide_password knows neither.
_PASSWORD_PARAMETER = re.compile(r"(?P<head>\bpassword=)(?P<password>[^&\s]+)")
_SQLSTATE_AUTH_FAILED = {"28P01", "28000"}
_SQLSTATE_NO_DATABASE = "3D000"
# A refused connection carries no SQLSTATE in psycopg 3 (libpq reports the
# server's FATAL as text only), so the server's own wording is matched too.
_AUTH_FAILED_TEXT = re.compile(
    r"password authentication failed|no password supplied|"
    r'role "[^"]*" does not exist|authentication failed for user'
)
_NO_DATABASE_TEXT = re.compile(r'database "[^"]*" does not exist')


class UrlSource(StrEnum):
    """Which rule picked the database: shown to people so they know what ran."""

    ENVIRONMENT = "DATABASE_URL"
    ALEMBIC_INI = "sqlalchemy.url in alembic.ini"
    EMBEDDED = "embedded PostgreSQL"
    HANDED_IN = "a connection handed to Alembic"


@dataclass(frozen=True)
class DatabaseTarget:
    """A database URL together with where it came from."""

    url: URL
    source: UrlSource

    @property
    def masked(self) -> str:
        return mask_url(self.url)

    def describe(self) -> str:
        return f"{self.masked} (from {self.source.value})"


def mask_url(url: URL | str) -> str:
    """Render a URL for people: the password, if any, becomes ``***``."""
    if isinstance(url, URL):
        return mask_secrets(url.render_as_string(hide_password=True))
    return mask_secrets(url)


def mask_secrets(text: str, *secrets: str | None) -> str:
    """Hide ``user:password@`` passwords and any given secret inside free text."""
    masked = _PASSWORD_IN_TEXT.sub(
        lambda m: f"{m['head']}***{m['tail']}" if m["password"] else m[0], text
    )
    masked = _PASSWORD_PARAMETER.sub(lambda m: f"{m['head']}***", masked)
    for secret in secrets:
        if secret:
            masked = masked.replace(secret, "***")
    return masked


def parse_database_url(raw: str, *, origin: str) -> URL:
    """Turn a configured URL into a psycopg 3 URL, or explain why it cannot be used.

    ``postgres://`` (Heroku, Neon, many PaaS) and ``postgresql://`` are both
    accepted; with SQLAlchemy 2.1 a bare ``postgresql://`` already means psycopg 3,
    and an explicit ``+driver`` is kept as given.
    """
    text = raw.strip()
    if text.startswith(("postgres://", "postgres+")):
        text = "postgresql" + text[len("postgres") :]
    try:
        url = make_url(text)
    except (ArgumentError, ValueError) as exc:
        del exc  # its message repeats the URL, password included
        raise DatabaseUrlError(
            f"{origin} is not a valid database URL: {mask_secrets(raw)!r}. "
            "Expected postgresql://user:password@host:port/database"
        ) from None
    if url.get_backend_name() != "postgresql":
        raise DatabaseUrlError(
            f"{origin} names a {url.get_backend_name()!r} database "
            f"({mask_url(url)}); this project supports PostgreSQL only: "
            "use postgresql://user:password@host:port/database"
        )
    if url.host and "@" in url.host:
        # SQLAlchemy ends the password at the first "@"; the rest of it would be
        # taken for the host name, and shown as such in every later message.
        raise DatabaseUrlError(
            f"{origin} has more than one '@' before the host "
            f"({mask_secrets(raw)}): a password containing '@', ':' or '/' must be "
            "percent-encoded ('@' as %40, ':' as %3A, '/' as %2F)."
        )
    if not url.database:
        raise DatabaseUrlError(
            f"{origin} names no database ({mask_url(url)}): "
            "add it after the host, as in postgresql://user@host:5432/mydb"
        )
    if url.port is not None and not 0 < url.port < 65536:
        raise DatabaseUrlError(f"{origin} has port {url.port}, outside 1-65535.")
    return url


def configured_url(
    *, settings: Settings, config: Config | None
) -> DatabaseTarget | None:
    """The URL that rules 1 and 2 give, or None when the embedded server is due."""
    if settings.database_url:
        url = parse_database_url(settings.database_url, origin="DATABASE_URL")
        return DatabaseTarget(url, UrlSource.ENVIRONMENT)
    ini_url = config.get_main_option("sqlalchemy.url") if config is not None else None
    if ini_url and ini_url.strip():
        url = parse_database_url(ini_url, origin="sqlalchemy.url in alembic.ini")
        return DatabaseTarget(url, UrlSource.ALEMBIC_INI)
    return None


def project_dir(config: Config | None) -> Path:
    """The folder holding alembic.ini (the working directory without one)."""
    if config is not None and config.config_file_name:
        return Path(config.config_file_name).resolve().parent
    return Path.cwd()


def pgdata_dir(*, settings: Settings, config: Config | None) -> Path:
    """Where the embedded server keeps its files: MIGRATIONKIT_PGDATA or .pgdata/."""
    return settings.pgdata or project_dir(config) / ".pgdata"


def resolve_database(*, settings: Settings, config: Config | None) -> DatabaseTarget:
    """Apply the three rules; starts the embedded server only when rule 3 applies."""
    target = configured_url(settings=settings, config=config)
    if target is not None:
        return target
    # Imported late: offline runs and URL users never need the server code.
    from migrationkit.devserver import (  # noqa: PLC0415
        EmbeddedPostgres,
        embedded_server_installed,
    )

    if not embedded_server_installed():  # a production install: say what is missing
        raise DatabaseUrlError(
            "No database is configured: DATABASE_URL is not set, alembic.ini has no "
            "sqlalchemy.url, and the embedded development server is not installed "
            "here. Set DATABASE_URL to the database to use, for example "
            "DATABASE_URL=postgresql://user:password@host:5432/dbname."
        )
    url = EmbeddedPostgres(
        pgdata_dir(settings=settings, config=config)
    ).ensure_database()
    return DatabaseTarget(url, UrlSource.EMBEDDED)


def offline_url(*, settings: Settings, config: Config | None) -> URL:
    """A URL for ``--sql`` mode: only its dialect matters, so nothing is started."""
    target = configured_url(settings=settings, config=config)
    return target.url if target is not None else make_url("postgresql://")


def create_engine(target: DatabaseTarget, *, settings: Settings) -> sa.Engine:
    """An engine that fails fast: a bounded connect timeout and no pooled sockets."""
    connect_args: dict[str, object] = {"application_name": APPLICATION_NAME}
    if "connect_timeout" not in target.url.query:
        connect_args["connect_timeout"] = max(1, round(settings.connect_timeout))
    return sa.create_engine(target.url, poolclass=NullPool, connect_args=connect_args)


def connect(engine: sa.Engine, target: DatabaseTarget) -> sa.Connection:
    """Open a connection, turning driver failures into messages for people."""
    try:
        return engine.connect()
    except OperationalError as exc:
        raise connection_error(exc, target) from None
    except DBAPIError as exc:
        # psycopg refuses a connection option it does not know (``?sslmod=...``)
        # with a ProgrammingError before any network traffic: a URL problem.
        detail = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
        raise DatabaseUrlError(
            f"The database URL from {target.source.value} was refused by the "
            f"driver: {mask_secrets(detail)}. Check its ?options: {target.masked}"
        ) from None


def connection_error(
    exc: OperationalError, target: DatabaseTarget
) -> DatabaseConnectionError:
    """Explain a failed connection: where we tried, what the server said, what next."""
    url = target.url
    where = describe_location(url)
    sqlstate = getattr(exc.orig, "sqlstate", None)
    detail = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
    query_password = url.query.get("password")
    detail = mask_secrets(
        detail,
        url.password if isinstance(url.password, str) else None,
        query_password if isinstance(query_password, str) else None,
    )
    if sqlstate in _SQLSTATE_AUTH_FAILED or _AUTH_FAILED_TEXT.search(detail):
        verdict = (
            f"PostgreSQL at {where} refused the credentials for user "
            f"{url.username!r}: {detail}. Check the user and password in "
            f"{target.source.value}."
        )
    elif sqlstate == _SQLSTATE_NO_DATABASE or _NO_DATABASE_TEXT.search(detail):
        verdict = (
            f"PostgreSQL at {where} has no database {url.database!r}: {detail}. "
            "Create it, or point the URL at one that exists."
        )
    else:
        verdict = (
            f"Cannot reach PostgreSQL at {where}: {detail}. Is the server running "
            f"and reachable? The URL came from {target.source.value}: "
            f"{target.masked}"
        )
    return DatabaseConnectionError(verdict)


def describe_location(url: URL) -> str:
    """``host:port`` for TCP, the socket folder for a local socket."""
    query_host = url.query.get("host")
    host = url.host or (query_host if isinstance(query_host, str) else None)
    if host is None:
        return "the default local socket"
    if host.startswith("/"):
        return f"socket {host}"
    return f"{host}:{url.port or 5432}"
