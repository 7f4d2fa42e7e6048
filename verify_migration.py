"""Check that the database matches this project's migrations and models.

    uv run python verify_migration.py           # a report for people
    uv run python verify_migration.py --json    # the same, for machines

It is ``migrationkit verify`` (connectivity, tables, indexes and constraints,
revision) plus what only this project knows: the model checks for ``User``, run
through the ORM inside a transaction that is always rolled back.
"""

from __future__ import annotations

import sys
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from migrationkit import verify_main
from migrationkit.pg import UNIQUE_VIOLATION
from migrationkit.verify import ModelCheck
from models import User


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
        if sqlstate == UNIQUE_VIOLATION:
            return None
        return f"the duplicate was refused, but not as a duplicate: {exc.orig}"
    return (
        f"a second User with email {first.email!r} was accepted: the unique index "
        "on users.email is missing"
    )


MODEL_CHECKS: Sequence[ModelCheck] = (user_round_trip, duplicate_email_refused)
"""This project's checks of its models, added to ``migrationkit verify``'s own."""


def main(argv: Sequence[str] | None = None) -> int:
    return verify_main(
        model_checks=MODEL_CHECKS,
        prog="verify_migration.py",
        config=Path(__file__).resolve().with_name("alembic.ini"),
        argv=argv,
    )


if __name__ == "__main__":
    sys.exit(main())
