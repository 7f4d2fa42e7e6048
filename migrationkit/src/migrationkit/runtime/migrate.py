"""``run_migrations``: the one call an Alembic ``env.py`` makes to get all of it.

What it does, in both of Alembic's modes:

* **offline** (``--sql``): renders the SQL with the URL's dialect; it never connects
  and never starts the embedded server;
* **online**: picks the database (``migrationkit.database.resolve_database``: a
  connection (or engine) handed in through ``config.attributes["connection"]``,
  else ``DATABASE_URL_DIRECT``, else ``DATABASE_URL``, else ``sqlalchemy.url``,
  else the embedded server), waits for a server that is still waking up, refuses a
  transaction pooler (``runtime.pooler``), then holds a PostgreSQL advisory lock
  for the whole run so concurrent ``upgrade head`` calls
  apply each revision once, bounds lock waits and statement times
  (``MigrationGuards``) and retries a migration that timed out on a lock.
  Commands that only read (``current``, ``check``, ``revision --autogenerate``)
  take no migration lock, so they never wait behind a running migration.

Each migration commits on its own (``transaction_per_migration``), and autogenerate
compares types and server defaults. Further ``context.configure`` options are passed
through unchanged, so a project keeps every Alembic feature it already uses.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType
from typing import TYPE_CHECKING, Any, cast

import sqlalchemy as sa
from alembic import context as alembic_context
from alembic.config import Config
from alembic.runtime.environment import EnvironmentContext

import migrationkit.ops  # noqa: F401 - registers the safe operations as op.<name>
from migrationkit.autogenerate import safe_autogenerate_wanted, safe_revision_directives
from migrationkit.backup.before_migrating import before_migrating
from migrationkit.database import (
    DatabaseTarget,
    UrlSource,
    create_engine,
    offline_url,
    resolve_database,
)
from migrationkit.errors import HandedInConnectionError
from migrationkit.hosted import wait_for_server
from migrationkit.ledger.table import LedgerTable, ignoring_ledger
from migrationkit.runtime.check import readable_check, running_alembic_check
from migrationkit.runtime.failures import print_failures_once, reported_failures
from migrationkit.runtime.guards import MigrationGuards
from migrationkit.runtime.lock import migration_lock
from migrationkit.runtime.pooler import refuse_pooler_host, refuse_transaction_pooler
from migrationkit.runtime.retry import run_with_retries
from migrationkit.settings import Settings

if TYPE_CHECKING:
    from collections.abc import Sequence

log = logging.getLogger(__name__)

DEFAULT_OPTIONS: dict[str, Any] = {
    "compare_type": True,
    "compare_server_default": True,
    "transaction_per_migration": True,
}
"""What ``run_migrations`` passes to ``context.configure`` unless told otherwise."""


def run_migrations(
    context: ModuleType | EnvironmentContext,
    *,
    target_metadata: sa.MetaData | Sequence[sa.MetaData] | None,
    settings: Settings | None = None,
    lock_name: str | None = None,
    safe_autogenerate: bool = True,
    **configure_options: Any,
) -> None:
    """Run the migrations Alembic asked for, safely; call it from ``env.py``.

    ``context`` is ``alembic.context`` as ``env.py`` imports it (or an
    ``EnvironmentContext``). ``lock_name`` names the advisory lock (default: the
    version table's name, so projects sharing a database but not a version table
    do not wait for each other). ``configure_options`` go to ``context.configure``
    and win over migrationkit's defaults. ``safe_autogenerate=False`` makes
    ``alembic revision --autogenerate`` write Alembic's plain operations
    (``migrationkit.autogenerate``; one revision: ``-x safe_autogenerate=off``).
    """
    print_failures_once()
    env = _environment(context)
    _keep_own_loggers_enabled()
    settings = settings if settings is not None else settings_for(env.config)
    options = {**DEFAULT_OPTIONS, **configure_options}
    options["include_name"] = ignoring_ledger(
        options.get("include_name"),
        table=LedgerTable.beside(
            version_table=str(options.get("version_table", "alembic_version")),
            schema=options.get("version_table_schema"),
            config=env.config,
        ),
    )
    if running_alembic_check(env.config):
        options["process_revision_directives"] = readable_check(
            options.get("process_revision_directives")
        )
    elif safe_autogenerate_wanted(
        env.get_x_argument(as_dictionary=True), project_default=safe_autogenerate
    ):
        # Autogenerate writes the safe operations; the project's hook runs after.
        options["process_revision_directives"] = safe_revision_directives(
            options.get("process_revision_directives")
        )
    if env.is_offline_mode():
        _run_offline(env, target_metadata=target_metadata, settings=settings, **options)
    else:
        version_table = str(options.get("version_table", "alembic_version"))
        with reported_failures(env, settings=settings):
            _run_online(
                env,
                target_metadata=target_metadata,
                settings=settings,
                lock_name=lock_name or version_table,
                **options,
            )


SETTINGS_ATTRIBUTE = "migrationkit.settings"
"""``config.attributes`` key under which a caller hands ``Settings`` to env.py."""


def settings_for(config: Config) -> Settings:
    """The settings a caller put in ``config.attributes``, else the environment's."""
    given = config.attributes.get(SETTINGS_ATTRIBUTE)
    return given if isinstance(given, Settings) else Settings.from_environ()


def _keep_own_loggers_enabled() -> None:
    """Make sure migrationkit's news reaches the person running Alembic.

    Alembic's env.py template calls ``fileConfig(config_file_name)``, whose default
    ``disable_existing_loggers=True`` silences every logger that exists by then,
    and env.py imports migrationkit first: its warnings (a lock timeout, who is in
    the way, the retry) would vanish. And the template's alembic.ini sets the root
    logger to WARNING, which would hide "started the embedded server" and the
    progress of a long backfill; unless the project configured the
    ``migrationkit`` logger itself, it logs from INFO up (through the project's
    own handlers).
    """
    for name, logger in logging.Logger.manager.loggerDict.items():
        if name.startswith("migrationkit") and isinstance(logger, logging.Logger):
            logger.disabled = False
    own = logging.getLogger("migrationkit")
    if own.level == logging.NOTSET:
        own.setLevel(logging.INFO)


def _environment(context: ModuleType | EnvironmentContext) -> EnvironmentContext:
    if isinstance(context, EnvironmentContext):
        return context
    if context is alembic_context:
        # The module proxies every EnvironmentContext method to the live instance.
        return cast("EnvironmentContext", context)
    raise TypeError(
        "run_migrations() needs Alembic's context: pass `context` as env.py "
        "imports it (`from alembic import context`)."
    )


def _run_offline(
    env: EnvironmentContext,
    *,
    target_metadata: sa.MetaData | Sequence[sa.MetaData] | None,
    settings: Settings,
    **options: Any,
) -> None:
    env.configure(
        url=offline_url(settings=settings, config=env.config),
        target_metadata=target_metadata,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
        **options,
    )
    with env.begin_transaction():
        env.run_migrations()


def _run_online(
    env: EnvironmentContext,
    *,
    target_metadata: sa.MetaData | Sequence[sa.MetaData] | None,
    settings: Settings,
    lock_name: str,
    **options: Any,
) -> None:
    guards = MigrationGuards.from_x_arguments(
        env.get_x_argument(as_dictionary=True), settings=settings
    )
    handed_in = handed_in_connectable(env.config.attributes.get("connection"))
    if handed_in is not None:
        # A test's connection, pytest-alembic's engine, an async engine: the
        # caller named the database; it is used as given, never another one.
        def run(connection: sa.Connection) -> None:
            _run_on_connection(
                env,
                connection,
                target=DatabaseTarget(connection.engine.url, UrlSource.HANDED_IN),
                guards=guards,
                lock_name=lock_name,
                target_metadata=target_metadata,
                settings=settings,
                **options,
            )

        _on_handed_in(handed_in, run)
        return
    target = resolve_database(settings=settings, config=env.config)
    refuse_pooler_host(target)  # known by name: refused before waking anything
    engine = create_engine(target, settings=settings)
    try:
        # Wake-up time is spent here, before any lock or lock_timeout applies.
        with wait_for_server(engine, target, settings=settings) as connection:
            _run_on_connection(
                env,
                connection,
                target=target,
                guards=guards,
                lock_name=lock_name,
                target_metadata=target_metadata,
                settings=settings,
                **options,
            )
    finally:
        engine.dispose()


@dataclass(frozen=True)
class AsyncConnectable:
    """An ``AsyncEngine`` or ``AsyncConnection`` handed in.

    Told apart by its module, not by ``isinstance``: importing
    ``sqlalchemy.ext.asyncio`` needs greenlet, which a synchronous project need not
    install.
    """

    value: Any

    @classmethod
    def of(cls, handed_in: object) -> AsyncConnectable | None:
        module = type(handed_in).__module__
        if module.startswith("sqlalchemy.ext.asyncio") and hasattr(
            handed_in,
            "run_sync" if "Connection" in type(handed_in).__name__ else "sync_engine",
        ):
            return cls(handed_in)
        return None

    @property
    def is_connection(self) -> bool:
        return hasattr(self.value, "run_sync")


Connectable = sa.Connection | sa.Engine | AsyncConnectable
"""What ``config.attributes["connection"]`` may hold, once unwrapped."""

_WRAPPER_ATTRIBUTES = ("connection", "engine", "connectable", "bind")
"""Where a wrapper keeps what it wraps (pytest-alembic's executors: ``connection``)."""


def handed_in_connectable(handed_in: object) -> Connectable | None:
    """What a caller handed in, unwrapped; None when nothing was handed in.

    A wrapper (an object holding the connection or engine under one of
    ``_WRAPPER_ATTRIBUTES``, as pytest-alembic's executors do) is unwrapped. Anything
    else is refused: falling back to ``DATABASE_URL`` or the embedded server would
    migrate a database the caller did not mean.
    """
    seen: object = handed_in
    for _ in range(4):  # a wrapper of a wrapper, but never a cycle
        if seen is None:
            return None
        if isinstance(seen, sa.Connection | sa.Engine):
            return seen
        async_connectable = AsyncConnectable.of(seen)
        if async_connectable is not None:
            return async_connectable
        inner = next(
            (
                getattr(seen, name)
                for name in _WRAPPER_ATTRIBUTES
                if getattr(seen, name, None) is not None
            ),
            None,
        )
        if inner is None:
            break
        seen = inner
    raise HandedInConnectionError(
        f'config.attributes["connection"] holds a {type(handed_in).__name__}, '
        "which is neither a SQLAlchemy Connection, Engine, AsyncConnection or "
        "AsyncEngine nor an object wrapping one (under .connection or .engine). "
        "Nothing was migrated: the caller named a database this run cannot use, "
        "and migrating DATABASE_URL's or the embedded server's instead would touch "
        "a database nobody meant. Hand in the connection or engine itself."
    )


def _on_handed_in(handed_in: Connectable, run: Callable[[sa.Connection], None]) -> None:
    """Call ``run`` with a synchronous connection on the handed-in database.

    A connection is used as it is (the caller closes it); an engine lends one. An
    async engine or connection runs ``run`` through ``run_sync`` in an event
    loop of its own, as Alembic's async template does.
    """
    if isinstance(handed_in, sa.Connection):
        run(handed_in)
    elif isinstance(handed_in, sa.Engine):
        with handed_in.connect() as connection:
            run(connection)
    else:
        asyncio.run(_run_async(handed_in, run))


async def _run_async(
    handed_in: AsyncConnectable, run: Callable[[sa.Connection], None]
) -> None:
    if handed_in.is_connection:
        await handed_in.value.run_sync(run)
        return
    async with handed_in.value.connect() as connection:
        await connection.run_sync(run)
        await connection.commit()


def _run_on_connection(
    env: EnvironmentContext,
    connection: sa.Connection,
    *,
    target: DatabaseTarget,
    guards: MigrationGuards,
    lock_name: str,
    target_metadata: sa.MetaData | Sequence[sa.MetaData] | None,
    settings: Settings,
    **options: Any,
) -> None:
    if connection.in_transaction() or not _changes_the_database(env):
        # The caller owns a transaction (a test that rolls back, say): nothing may
        # be committed under it, so the run is its own, without lock or retry.
        # A command that only reads needs neither, and must not wait for a run.
        log.debug("no migration lock, no retry: the run reads or is the caller's")
        env.configure(connection=connection, target_metadata=target_metadata, **options)
        with env.begin_transaction():
            env.run_migrations()
        return
    route = refuse_transaction_pooler(
        connection, target, session_declared=guards.session_pooler
    )
    with migration_lock(
        connection, name=lock_name, timeout=guards.migration_lock_timeout, route=route
    ):
        before_migrating(  # -x backup=1: a checked backup before any change
            env.get_x_argument(as_dictionary=True),
            target=target,
            settings=settings,
            ini=env.config.config_file_name,
        )
        env.configure(connection=connection, target_metadata=target_metadata, **options)
        run_with_retries(env, guards)


def _changes_the_database(env: EnvironmentContext) -> bool:
    """Only ``upgrade``, ``downgrade`` and ``stamp`` name a destination revision.

    ``current``, ``check``, ``history -i`` and ``revision --autogenerate`` read
    the version table or the schema and never write, so they need no migration
    lock. Their environment has no destination, and ``get_revision_argument()``
    raises ``KeyError`` for it; its None result cannot tell, as ``downgrade base``
    returns None too.
    """
    try:
        env.get_revision_argument()
    except KeyError:
        return False
    return True
