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
from alembic.util import CommandError

from migrationkit.command import load_config
from migrationkit.database import connect, create_engine, resolve_database
from migrationkit.settings import Settings
from migrationkit.verify.revision import check_revision
from models import User


def main() -> int:
    try:
        settings = Settings.from_environ()
        config = load_config(Path(__file__).with_name("alembic.ini"))
        target = resolve_database(settings=settings, config=config)
        engine = create_engine(target, settings=settings)
        with connect(engine, target) as connection:
            revision = check_revision(
                connection, script=ScriptDirectory.from_config(config), config=config
            )
            if not revision.ok:
                print(f"Error: not starting: {revision.summary}", file=sys.stderr)
                if revision.fix:
                    print(f"  fix: {revision.fix}", file=sys.stderr)
                return 1
            users = connection.execute(
                sa.select(sa.func.count()).select_from(User)
            ).scalar_one()
        engine.dispose()
    except CommandError as exc:  # migrationkit's errors, and Alembic's
        print(f"Error: {exc}", file=sys.stderr)
        return 1
    print(f"ready: {target.masked} is at the head revision and has {users} users")
    return 0


if __name__ == "__main__":
    sys.exit(main())
