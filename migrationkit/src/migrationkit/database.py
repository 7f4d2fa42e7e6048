"""Where the database comes from, and how to connect to it without leaking a secret.

One rule decides the database for every entry point (``alembic/env.py``,
``verify_migration.py``, the tests):

1. ``DATABASE_URL_DIRECT``, else ``DATABASE_URL``, from the environment;
2. else ``sqlalchemy.url`` from alembic.ini, if set;
3. else the embedded PostgreSQL server kept in ``.pgdata/`` beside alembic.ini,
   started on first use (see ``migrationkit.devserver.server``).

``DATABASE_URL_DIRECT`` is for deployments whose ``DATABASE_URL`` goes through a
transaction pooler (Neon's pooled connection string, PgBouncer): migrations,
verification and backups need a session of their own on the server, while the
application (``resolve_application_database``) keeps the pooled ``DATABASE_URL``.

A ``DatabaseTarget`` keeps the password apart from the URL, in a ``Secret``; the
engine built from it gets a password-less URL, and the password joins the
driver's call only at the moment of connecting (SQLAlchemy's ``do_connect``
event). A failure there is re-raised with its text masked and without the
driver's frames, whose arguments (the libpq conninfo, the keyword arguments)
hold the password and which pytest prints.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass, replace
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import URL, Dialect, make_url
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.pool import NullPool

from migrationkit.errors import DatabaseConnectionError, DatabaseUrlError
from migrationkit.masking import MASK, Secret
from migrationkit.masking import (
    mask_secrets as mask_secrets,  # noqa: PLC0414 - re-exported: importers use this path
)
from migrationkit.pg import AUTHENTICATION_FAILED, INVALID_CATALOG_NAME, sqlstate_of
from migrationkit.settings import Settings
from migrationkit.urls import (
    mask_url,
    parse_database_url,
    password_out_of_query,
    with_driver,
)

if TYPE_CHECKING:
    from alembic.config import Config
    from sqlalchemy.engine.interfaces import DBAPIConnection
    from sqlalchemy.pool import ConnectionPoolEntry

    from migrationkit.devserver import EmbeddedPostgres

APPLICATION_NAME = "migrationkit"

# A refused connection carries no SQLSTATE in psycopg 3 (libpq reports the
# server's FATAL as text only), so the server's own wording is matched too.
_AUTH_FAILED_TEXT = re.compile(
    r"password authentication failed|no password supplied|SASL authentication failed|"
    r'role "[^"]*" does not exist|authentication failed for user'
)
_NO_DATABASE_TEXT = re.compile(r'database "[^"]*" does not exist')


class UrlSource(StrEnum):
    """Which rule picked the database: shown to people so they know what ran."""

    ENVIRONMENT = "DATABASE_URL"
    ENVIRONMENT_DIRECT = "DATABASE_URL_DIRECT"
    ALEMBIC_INI = "sqlalchemy.url in alembic.ini"
    EMBEDDED = "embedded PostgreSQL"
    HANDED_IN = "a connection handed to Alembic"


@dataclass(frozen=True)
class DatabaseTarget:
    """A database URL, where it came from, and its password kept apart.

    ``url`` never holds a password: one written in the URL (or in its
    ``?password=``) moves into ``password`` on construction, so neither the
    target's repr, nor its URL's, nor an engine's can show it.
    """

    url: URL
    source: UrlSource
    password: Secret | None = None

    def __post_init__(self) -> None:
        url = password_out_of_query(self.url)
        if url.password is not None:
            if self.password is None:
                object.__setattr__(self, "password", Secret(str(url.password)))
            url = url._replace(password=None)
        object.__setattr__(self, "url", url)

    @property
    def masked(self) -> str:
        """The URL for people: ``user:***@`` when there is a password."""
        return mask_url(self.url.set(password=MASK) if self.password else self.url)

    def describe(self) -> str:
        return f"{self.masked} (from {self.source.value})"

    def with_database(self, name: str) -> DatabaseTarget:
        """Another database on the same server, as the same user."""
        return replace(self, url=self.url.set(database=name))

    def secret_url(self) -> Secret:
        """The whole URL, password included, for a child process's environment."""
        url = (
            self.url.set(password=self.password.reveal()) if self.password else self.url
        )
        return Secret(url.render_as_string(hide_password=False), remember_value=False)


def configured_url(
    *, settings: Settings, config: Config | None
) -> DatabaseTarget | None:
    """The URL that rules 1 and 2 give, or None when the embedded server is due."""
    if settings.database_url_direct:
        url = parse_database_url(
            settings.database_url_direct.reveal(), origin="DATABASE_URL_DIRECT"
        )
        return DatabaseTarget(url, UrlSource.ENVIRONMENT_DIRECT)
    if settings.database_url:
        url = parse_database_url(settings.database_url.reveal(), origin="DATABASE_URL")
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


def pgdata_dir(
    *, settings: Settings, config: Config | None, project: Path | None = None
) -> Path:
    """Where the embedded server keeps its files: MIGRATIONKIT_PGDATA, else
    ``.pgdata/`` beside alembic.ini (or in ``project`` when there is no Config)."""
    if settings.pgdata:
        return settings.pgdata
    return (project or project_dir(config)) / ".pgdata"


def resolve_database(*, settings: Settings, config: Config | None) -> DatabaseTarget:
    """Apply the three rules; starts the embedded server only when rule 3 applies."""
    target = configured_url(settings=settings, config=config)
    if target is not None:
        return target
    return embedded_database(settings=settings, config=config)


def resolve_server(*, settings: Settings, config: Config | None) -> DatabaseTarget:
    """The server the three rules name, for tools that make databases of their own.

    The configured URL as it is (the tool connects there only to create and drop
    its scratch databases), else the embedded server's ``postgres`` database. The
    harness, the test fixtures and the benchmarks use this, so "the configured
    URL, else the embedded server" is decided here and nowhere else.
    """
    target = configured_url(settings=settings, config=config)
    if target is not None:
        return target
    return embedded_database(settings=settings, config=config, database="postgres")


def embedded_server(*, settings: Settings, config: Config | None) -> EmbeddedPostgres:
    """The project's embedded server (its files: MIGRATIONKIT_PGDATA or .pgdata/)."""
    from migrationkit.devserver import EmbeddedPostgres  # noqa: PLC0415

    return EmbeddedPostgres(pgdata_dir(settings=settings, config=config))


def embedded_database(
    *, settings: Settings, config: Config | None, database: str | None = None
) -> DatabaseTarget:
    """A database on the project's embedded server, started (and, for the default
    database, created) on first use: the one way in to that server.

    ``database=None`` is the project's own database (``development``), created
    when missing; a named one must exist (``postgres`` always does).
    """
    # Imported late: offline runs and URL users never need the server code.
    from migrationkit.devserver import embedded_server_installed  # noqa: PLC0415

    if not embedded_server_installed():  # a production install: say what is missing
        raise DatabaseUrlError(
            "No database is configured: DATABASE_URL is not set, alembic.ini has no "
            "sqlalchemy.url, and the embedded development server is not installed "
            "here. Set DATABASE_URL to the database to use, for example "
            "DATABASE_URL=postgresql://user:password@host:5432/dbname."
        )
    server = embedded_server(settings=settings, config=config)
    if database is None:
        return DatabaseTarget(server.ensure_database(), UrlSource.EMBEDDED)
    server.ensure_running()
    return DatabaseTarget(server.url(database), UrlSource.EMBEDDED)


def resolve_application_database(
    *, settings: Settings, config: Config | None
) -> DatabaseTarget:
    """The application's database: ``DATABASE_URL`` first, pooled or not.

    An application's short transactions are what a transaction pooler is for, so
    it keeps the pooled URL; without ``DATABASE_URL`` the same rules as for
    migrations apply (``DATABASE_URL_DIRECT``, alembic.ini, the embedded server).
    """
    if settings.database_url:
        url = parse_database_url(settings.database_url.reveal(), origin="DATABASE_URL")
        return DatabaseTarget(url, UrlSource.ENVIRONMENT)
    return resolve_database(settings=settings, config=config)


def offline_url(*, settings: Settings, config: Config | None) -> URL:
    """A URL for ``--sql`` mode: only its dialect matters, so nothing is started."""
    target = configured_url(settings=settings, config=config)
    return target.url if target is not None else make_url("postgresql://")


@dataclass(frozen=True, kw_only=True)
class ConnectionPool:
    """The pool of an application's engine (migrations use none: ``NullPool``)."""

    size: int = 5
    """Connections kept open; a pooler in front multiplexes them further."""
    overflow: int = 5
    timeout: float = 10.0
    """Seconds a request waits for a free connection before it fails."""


def create_engine(
    target: DatabaseTarget,
    *,
    settings: Settings,
    application_name: str = APPLICATION_NAME,
    pool: ConnectionPool | None = None,
) -> sa.Engine:
    """An engine that fails fast and cannot leak: a bounded connect timeout,
    statement parameters kept out of error messages and logs, and the password
    given to the driver only while it connects.

    Without ``pool`` no socket outlives its use (``NullPool``): what migrations,
    verify and the tools want. With ``pool`` it is an application's engine, which
    may sit behind a transaction pooler (Neon's pooled string, PgBouncer): a
    pooled connection is checked before use (``pool_pre_ping`` replaces one a
    suspended compute or a restarted pooler closed), and psycopg never prepares
    statements on the server, since the pooler may run the next ``EXECUTE`` on a
    server process that never saw the ``PREPARE``.
    """
    url = with_driver(target.url)  # the driver the engine really uses, on 2.0 too
    connect_args: dict[str, object] = {"application_name": application_name}
    if "connect_timeout" not in url.query:
        connect_args["connect_timeout"] = max(1, round(settings.connect_timeout))
    pooling: dict[str, Any] = {"poolclass": NullPool}
    if pool is not None:
        pooling = {
            "pool_size": pool.size,
            "max_overflow": pool.overflow,
            "pool_timeout": pool.timeout,
            "pool_pre_ping": True,
        }
        if url.get_driver_name() == "psycopg":
            connect_args["prepare_threshold"] = None
    try:
        engine = sa.create_engine(
            url, connect_args=connect_args, hide_parameters=True, **pooling
        )
    except ImportError as exc:  # the URL's +driver is not installed
        raise DatabaseUrlError(
            f"The database URL from {target.source.value} asks for the driver "
            f"{target.url.get_driver_name()!r} ({target.url.drivername}://), but "
            f"its module {exc.name or target.url.get_driver_name()!r} is not "
            "installed. migrationkit connects with psycopg 3: write postgresql:// "
            "or postgresql+psycopg://, or install that driver."
        ) from None
    attach_password(engine, target)
    return engine


def attach_password(engine: sa.Engine, target: DatabaseTarget) -> None:
    """Give ``target``'s password to ``engine``'s driver at connect time only.

    For engines built elsewhere from ``target.url``, which holds no password.
    """
    event.listen(engine, "do_connect", _connect_with(target.password))


def _connect_with(
    password: Secret | None,
) -> Callable[[Dialect, ConnectionPoolEntry, tuple[Any, ...], dict[str, Any]], Any]:
    """SQLAlchemy's ``do_connect`` hook: the one place the password is unwrapped."""

    def do_connect(
        dialect: Dialect,
        connection_record: ConnectionPoolEntry,
        cargs: tuple[Any, ...],
        cparams: dict[str, Any],
    ) -> DBAPIConnection:
        failure: BaseException
        try:
            # Unwrapped inside the call: no local (which pytest -l would print)
            # ever holds the password.
            if password is None:
                return dialect.connect(*cargs, **cparams)
            return dialect.connect(*cargs, **cparams, password=password.reveal())
        except Exception as exc:  # noqa: BLE001 - re-raised below, masked
            failure = _masked_copy(exc, password)
        except KeyboardInterrupt:
            failure = KeyboardInterrupt()
        # Raised outside the except block: the driver's exception, whose frames
        # hold the conninfo, is neither chained nor kept as context.
        raise failure

    return do_connect


def _masked_copy(exc: Exception, password: Secret | None) -> Exception:
    """``exc`` again (same class, same SQLSTATE) with its text masked."""
    message = mask_secrets(str(exc), password)
    try:
        copy = type(exc)(message)
    except Exception:  # noqa: BLE001 - a class that wants other arguments
        return DatabaseConnectionError(f"{type(exc).__name__}: {message}")
    sqlstate = getattr(exc, "sqlstate", None)
    if sqlstate is not None and getattr(copy, "sqlstate", None) != sqlstate:
        with suppress(AttributeError):
            setattr(copy, "sqlstate", sqlstate)  # noqa: B010 - not every class has it
    return copy


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
            f"driver: {mask_secrets(detail, target.password)}. Check its "
            f"?options: {target.masked}"
        ) from None


def connection_error(
    exc: OperationalError, target: DatabaseTarget
) -> DatabaseConnectionError:
    """Explain a failed connection: where we tried, what the server said, what next."""
    url = target.url
    where = describe_location(url)
    sqlstate = sqlstate_of(exc)
    detail = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
    detail = mask_secrets(detail, target.password)
    if sqlstate in AUTHENTICATION_FAILED or _AUTH_FAILED_TEXT.search(detail):
        verdict = (
            f"PostgreSQL at {where} refused the credentials for user "
            f"{url.username!r}: {detail}. Check the user and password in "
            f"{target.source.value} (or PGPASSWORD)."
        )
    elif sqlstate == INVALID_CATALOG_NAME or _NO_DATABASE_TEXT.search(detail):
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


# Failures that no amount of waiting cures: wrong credentials, a missing
# database, and TLS or channel binding the URL demands but the server lacks.
_LASTING_FAILURE_TEXT = re.compile(
    r"server does not support SSL|channel binding|SSL is not enabled|"
    r"no pg_hba\.conf entry"
)


def lasting_connection_failure(exc: OperationalError) -> bool:
    """True when retrying the connection cannot help (see ``migrationkit.hosted``)."""
    sqlstate = sqlstate_of(exc)
    if sqlstate in AUTHENTICATION_FAILED or sqlstate == INVALID_CATALOG_NAME:
        return True
    detail = str(exc.orig or exc)
    return any(
        pattern.search(detail)
        for pattern in (_AUTH_FAILED_TEXT, _NO_DATABASE_TEXT, _LASTING_FAILURE_TEXT)
    )


def describe_location(url: URL) -> str:
    """``host:port`` for TCP, the socket folder for a local socket."""
    query_host = url.query.get("host")
    host = url.host or (query_host if isinstance(query_host, str) else None)
    if host is None:
        return "the default local socket"
    if host.startswith("/"):
        return f"socket {host}"
    return f"{host}:{url.port or 5432}"
