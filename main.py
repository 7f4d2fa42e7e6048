"""The application's entry point: a stand-in for the service this schema serves.

The container runs ``alembic upgrade head && python main.py``, as the guide shows.
An application should refuse to start on a schema it was not written for, so this
one first checks that the database is at the head revision, then reports what it
sees and exits. A real service would start serving here instead.
"""

from __future__ import annotations

import sys
from pathlib import Path

import sqlalchemy as sa
from alembic.script import ScriptDirectory

from migrationkit.cli.main import report_failures
from migrationkit.command import load_config
from migrationkit.database import connect, create_engine, resolve_database
from migrationkit.errors import MigrationKitError
from migrationkit.settings import Settings
from migrationkit.verify.revision import check_revision
from models import User


def start() -> int:
    settings = Settings.from_environ()
    config = load_config(Path(__file__).with_name("alembic.ini"))
    target = resolve_database(settings=settings, config=config)
    engine = create_engine(target, settings=settings)
    try:
        with connect(engine, target) as connection:
            revision = check_revision(
                connection, script=ScriptDirectory.from_config(config), config=config
            )
            if not revision.ok:
                fix = f" Fix: {revision.fix}" if revision.fix else ""
                raise MigrationKitError(f"not starting: {revision.summary}.{fix}")
            users = connection.execute(
                sa.select(sa.func.count()).select_from(User)
            ).scalar_one()
    finally:
        engine.dispose()
    print(f"ready: {target.masked} is at the head revision and has {users} users")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Start, or say in one ``FAILED:`` paragraph why not (``--debug``: traceback)."""
    debug = "--debug" in (sys.argv[1:] if argv is None else argv)
    return report_failures(start, debug=debug)


if __name__ == "__main__":
    sys.exit(main())
