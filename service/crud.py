"""What the routes ask of the database, through the models; no HTTP here.

Uniqueness is the database's job: a duplicate email or username is refused by
its unique index (``23505``), never by a SELECT first, which two concurrent
requests would both pass. The index that refused it names the field.

Pages are keyset pages ordered by ``(created_at, id)``: each page is one index
range scan however deep it is, and users created while a client pages through
the list land after its position instead of shifting every later page (as
``OFFSET`` would).
"""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from migrationkit.pg import UNIQUE_VIOLATION, sqlstate_of
from models import User


class DuplicateUserError(Exception):
    """Another user already has this email or username."""

    def __init__(self, *, field: str, value: object) -> None:
        super().__init__(f"{field} {value!r} is already taken by another user")
        self.field = field
        self.value = value


class BadCursorError(ValueError):
    """A page cursor this service did not hand out."""


@dataclass(frozen=True)
class Cursor:
    """The last user of a page: the next page starts after it."""

    created_at: datetime
    id: uuid.UUID

    def encode(self) -> str:
        raw = json.dumps([self.created_at.isoformat(), str(self.id)])
        return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")

    @classmethod
    def decode(cls, text: str) -> Cursor:
        try:
            padded = text + "=" * (-len(text) % 4)
            created_at, user_id = json.loads(base64.urlsafe_b64decode(padded))
            cursor = cls(datetime.fromisoformat(created_at), uuid.UUID(user_id))
        except (binascii.Error, UnicodeDecodeError, TypeError, ValueError) as exc:
            raise BadCursorError(
                "not a cursor from this service: pass next_cursor from the previous "
                "page as it was"
            ) from exc
        if cursor.created_at.tzinfo is None:
            raise BadCursorError("not a cursor from this service")
        return cursor


def _unique_fields() -> dict[str, str]:
    """Unique index or constraint name -> the column it keeps unique."""
    table = User.metadata.tables[User.__tablename__]
    found: dict[str, str] = {}
    for index in table.indexes:
        if index.unique and index.name and len(index.columns) == 1:
            found[str(index.name)] = next(iter(index.columns)).name
    for constraint in table.constraints:
        if not isinstance(constraint, sa.UniqueConstraint) or not constraint.name:
            continue
        if len(constraint.columns) == 1:
            found[str(constraint.name)] = next(iter(constraint.columns)).name
    return found


UNIQUE_FIELDS = _unique_fields()


def create_user(session: Session, fields: Mapping[str, object]) -> User:
    user = User(**fields)
    session.add(user)
    _commit(session, fields)
    return user


def get_user(session: Session, user_id: uuid.UUID) -> User | None:
    return session.get(User, user_id)


def list_users(
    session: Session, *, limit: int, after: Cursor | None, active: bool | None
) -> tuple[Sequence[User], Cursor | None]:
    """Up to ``limit`` users after ``after``, and the cursor of the next page."""
    query = sa.select(User).order_by(User.created_at, User.id).limit(limit + 1)
    if after is not None:
        query = query.where(
            sa.tuple_(User.created_at, User.id) > sa.tuple_(after.created_at, after.id)
        )
    if active is not None:
        query = query.where(User.is_active.is_(active))
    users = session.scalars(query).all()
    if len(users) <= limit:
        return users, None
    last = users[limit - 1]
    return users[:limit], Cursor(last.created_at, last.id)


def update_user(session: Session, user: User, changes: Mapping[str, object]) -> User:
    for name, value in changes.items():
        setattr(user, name, value)
    _commit(session, changes)
    return user


def deactivate_user(session: Session, user: User) -> User:
    """Deactivated users keep their row (and their email and username)."""
    user.is_active = False
    session.commit()
    return user


def _commit(session: Session, fields: Mapping[str, object]) -> None:
    try:
        session.commit()
    except IntegrityError as exc:
        session.rollback()
        if sqlstate_of(exc) != UNIQUE_VIOLATION:
            raise
        diag = getattr(exc.orig, "diag", None)
        field = UNIQUE_FIELDS.get(getattr(diag, "constraint_name", None) or "")
        if field is None:
            raise
        raise DuplicateUserError(field=field, value=fields.get(field)) from None
