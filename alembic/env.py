"""Alembic environment: Alembic's generic template plus four additions.

1. The database comes from ``migrationkit.database``: DATABASE_URL, else
   alembic.ini, else the embedded server (offline ``--sql`` never starts one).
2. ``compare_type`` and ``compare_server_default`` make autogenerate and
   ``alembic check`` see type and default drift; each migration commits on its own.
3. Online runs hold a PostgreSQL advisory lock, so concurrent ``upgrade head``
   calls (containers migrating on start) apply each revision exactly once.
4. Lock waits are bounded (``-x lock_timeout=2s``, ``-x statement_timeout=...``);
   a migration that timed out waiting for a lock is retried with backoff
   (``-x lock_retries=5``), then fails naming the session in the way.
"""

from logging.config import fileConfig

from alembic import context

from migrationkit.database import connect, create_engine, offline_url, resolve_database
from migrationkit.guards import MigrationGuards
from migrationkit.locking import migration_lock
from migrationkit.settings import Settings
from models import Base

config = context.config

if config.config_file_name is not None:
    fileConfig(config.config_file_name, disable_existing_loggers=False)

target_metadata = Base.metadata
settings = Settings.from_environ()


def run_migrations_offline() -> None:
    """Emit SQL for the chosen revisions without touching any database."""
    context.configure(
        url=offline_url(settings=settings, config=config),
        target_metadata=target_metadata,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
        compare_type=True,
        compare_server_default=True,
        transaction_per_migration=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    """Run migrations on a live connection, one run per database at a time."""
    target = resolve_database(settings=settings, config=config)
    engine = create_engine(target, settings=settings)
    guards = MigrationGuards.from_x_arguments(
        context.get_x_argument(as_dictionary=True), settings=settings
    )
    with (
        connect(engine, target) as connection,
        migration_lock(connection, name="alembic_version"),
    ):
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            compare_type=True,
            compare_server_default=True,
            transaction_per_migration=True,
        )
        for attempt in guards.attempts(context.get_context()):
            with attempt, context.begin_transaction():
                context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
