"""Check that the database matches this project's migrations and models.

    uv run python verify_migration.py           # a report for people
    uv run python verify_migration.py --json    # the same, for machines

The checks themselves live in ``migrationkit.verify``; this file holds only what
is specific to this project: its models, and the model checks for ``User``.
"""

from __future__ import annotations

import argparse
import sys
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic.util import CommandError
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from migrationkit.database import mask_secrets
from migrationkit.settings import Settings
from migrationkit.verify import ModelCheck, load_alembic_config, verify_database
from migrationkit.verify_report import (
    error_as_dict,
    render_json,
    render_text,
    report_as_dict,
)
from models import Base, User

_SQLSTATE_UNIQUE_VIOLATION = "23505"


def new_user(**overrides: Any) -> User:
    """A valid User that nobody else has: the one place listing required fields.

    When User gains a required column, add one line here (for example
    ``"username": f"verify_{token}"``) and every check keeps working.
    """
    token = uuid.uuid4().hex[:16]
    fields: dict[str, Any] = {
        "email": f"verify-{token}@example.invalid",
        "username": f"verify_{token}",
    }
    fields.update(overrides)
    return User(**fields)


def user_round_trip(session: Session) -> str | None:
    """A User saved through the ORM reads back with its Python and server defaults."""
    user = new_user()
    session.add(user)
    session.flush()
    user_id, email = user.id, user.email
    session.expunge_all()  # read back from the database, not the identity map
    stored = session.get(User, user_id)
    if stored is None:
        return f"the User just inserted (id {user_id}) cannot be read back"
    # now() is the transaction's start; clock_timestamp() is the present moment.
    began, present = session.execute(
        sa.select(sa.func.now(), sa.func.clock_timestamp())
    ).one()
    problems = []
    if stored.email != email:
        problems.append(f"email reads back as {stored.email!r}, not {email!r}")
    if not isinstance(stored.id, uuid.UUID) or stored.id.version != 4:
        problems.append(f"id {stored.id!r} is not a uuid4 (the Python default)")
    if stored.is_active is not True:
        problems.append(f"is_active is {stored.is_active!r}, the default is True")
    created = stored.created_at
    if created is None:
        problems.append("created_at is NULL: the server default now() is missing")
    elif created.tzinfo is None:
        problems.append("created_at has no time zone: the column must be timestamptz")
    elif not began <= created <= present:
        problems.append(
            f"created_at {created.isoformat()} was not set by the database during "
            f"this transaction ({began.isoformat()} .. {present.isoformat()})"
        )
    return "; ".join(problems) or None


def duplicate_email_refused(session: Session) -> str | None:
    """A second User with the same email is refused by the database."""
    first = new_user()
    session.add(first)
    session.flush()
    try:
        with session.begin_nested():  # a SAVEPOINT: the refusal spoils nothing else
            session.add(new_user(email=first.email))
    except IntegrityError as exc:
        sqlstate = getattr(exc.orig, "sqlstate", None)
        if sqlstate == _SQLSTATE_UNIQUE_VIOLATION:
            return None
        return f"the duplicate was refused, but not as a duplicate: {exc.orig}"
    return (
        f"a second User with email {first.email!r} was accepted: the unique index "
        "on users.email is missing"
    )


MODEL_CHECKS: Sequence[ModelCheck] = (user_round_trip, duplicate_email_refused)

DESCRIPTION = """\
Verify that a database matches this project's migrations and models.

The database is the one every command here uses: DATABASE_URL if set, else
sqlalchemy.url in alembic.ini, else the embedded PostgreSQL server in .pgdata/.

Checks, in order:
  connectivity             server version, database and user (never the password)
  table structure          every table and column of the models, with its type,
                           nullability and server default (Alembic's comparison,
                           as `alembic check` makes it); extra ones are drift too
  indexes and constraints  every index, unique constraint, primary key (name and
                           columns), foreign key and CHECK constraint; an INVALID
                           index left by a failed CREATE INDEX CONCURRENTLY fails
  model functionality      a User created through the ORM, read back, defaults
                           checked, a duplicate email refused; all inside one
                           transaction that is rolled back: nothing is left behind
  revision                 the database's revision against the migration heads
"""

EPILOG = """\
exit status:
  0  every check passed
  1  a check failed, or the database could not be reached (the message says why)
  2  bad command-line arguments

--json prints {"ok", "error", "database": {"url" (masked), "source", "location",
"server_version", "database", "user"}, "checks": [{"name", "title", "ok",
"summary", "details", "fix"}]}; see migrationkit/verify_report.py for the details.
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="verify_migration.py",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "-c",
        "--config",
        type=Path,
        default=Path(__file__).resolve().with_name("alembic.ini"),
        help="the project's alembic.ini (default: the one next to this script)",
    )
    parser.add_argument(
        "--json", action="store_true", help="print the report as JSON on stdout"
    )
    parser.add_argument(
        "--debug", action="store_true", help="show a traceback for expected errors"
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        report = verify_database(
            config=load_alembic_config(args.config),
            settings=Settings.from_environ(),
            metadata=Base.metadata,
            model_checks=MODEL_CHECKS,
        )
    except CommandError as exc:  # MigrationKitError and Alembic's own refusals
        if args.debug:
            raise
        message = mask_secrets(str(exc))
        if args.json:
            print(render_json(error_as_dict(message)))
        print(f"Error: {message}", file=sys.stderr)
        return 1
    print(render_json(report_as_dict(report)) if args.json else render_text(report))
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
