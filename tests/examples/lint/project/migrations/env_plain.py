"""Alembic's own template, without migrationkit: no lock_timeout for the session."""

import sqlalchemy as sa
from alembic import context


def run_offline() -> None:
    context.configure(
        url="postgresql://",
        literal_binds=True,
        transaction_per_migration=True,
        dialect_opts={"paramstyle": "named"},
    )
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    url = context.config.get_main_option("sqlalchemy.url") or "postgresql://"
    engine = sa.create_engine(url)
    with engine.connect() as connection:
        context.configure(connection=connection, transaction_per_migration=True)
        with context.begin_transaction():
            context.run_migrations()


if context.is_offline_mode():
    run_offline()
else:
    run_online()
