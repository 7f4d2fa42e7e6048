"""Alembic's environment: the generic template, with migrationkit doing the running.

``run_migrations`` picks the database (DATABASE_URL, else alembic.ini, else the
embedded server), holds an advisory lock so concurrent deploys apply each revision
once, bounds lock waits, retries a lock timeout, and commits each migration on its
own. In ``--sql`` mode it only renders SQL.
"""

from logging.config import fileConfig

from alembic import context

from migrationkit import run_migrations
from models import Base

config = context.config

if config.config_file_name is not None:
    fileConfig(config.config_file_name, disable_existing_loggers=False)

target_metadata = Base.metadata

run_migrations(context, target_metadata=target_metadata)
