"""What goes over the wire: request bodies (validated) and responses.

Input is normalised before it reaches the database, so that the unique indexes
mean what a person expects: emails and usernames are stored lower-cased
(``Ann@Example.com`` and ``ann@example.com`` are one user), surrounding spaces
are dropped. The limits are the columns' own (``models.User``).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal, Self

import sqlalchemy as sa
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    EmailStr,
    Field,
    StringConstraints,
    model_validator,
)

from models import User


def _column_length(name: str) -> int:
    """The column's own limit: the schema and the validation never disagree."""
    column_type = User.metadata.tables[User.__tablename__].c[name].type
    assert isinstance(column_type, sa.String)
    assert column_type.length is not None
    return column_type.length


EMAIL_LENGTH = _column_length("email")
USERNAME_LENGTH = _column_length("username")
FIRST_NAME_LENGTH = _column_length("first_name")
USERNAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]*$"
"""Checked before lower-casing (pydantic's order), so upper case is accepted."""


def _fits_email_column(email: str) -> str:
    if len(email) > EMAIL_LENGTH:
        raise ValueError(f"an email has at most {EMAIL_LENGTH} characters")
    return email.lower()


Email = Annotated[
    EmailStr,
    AfterValidator(_fits_email_column),
    Field(examples=["ann.lee@example.com"]),
]
Username = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True,
        to_lower=True,
        min_length=3,
        max_length=USERNAME_LENGTH,
        pattern=USERNAME_PATTERN,
    ),
    Field(
        description=(
            "3 to 50 characters: letters, digits, '.', '_' and '-', starting with "
            "a letter or digit; stored lower-cased"
        ),
        examples=["ann.lee"],
    ),
]
FirstName = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True, min_length=1, max_length=FIRST_NAME_LENGTH
    ),
    Field(examples=["Ann"]),
]


class UserCreate(BaseModel):
    """A new user."""

    model_config = ConfigDict(extra="forbid")

    email: Email
    username: Username
    first_name: FirstName | None = None


class UserUpdate(BaseModel):
    """Fields to change; those left out stay as they are.

    ``first_name`` may be set to null to clear it; ``email`` and ``username``
    may not (the columns are required).
    """

    model_config = ConfigDict(extra="forbid")

    email: Email | None = None
    username: Username | None = None
    first_name: FirstName | None = None

    @model_validator(mode="after")
    def _something_to_change(self) -> Self:
        if not self.model_fields_set:
            raise ValueError("give at least one of email, username, first_name")
        for name in ("email", "username"):
            if name in self.model_fields_set and getattr(self, name) is None:
                raise ValueError(f"{name} cannot be null")
        return self

    def changes(self) -> dict[str, str | None]:
        """Only the fields the request gave."""
        return self.model_dump(include=self.model_fields_set)


class UserRead(BaseModel):
    """A user as stored."""

    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    email: str
    username: str
    first_name: str | None
    is_active: bool
    created_at: datetime


class UserPage(BaseModel):
    """One page of users, oldest first; pass ``next_cursor`` back for the next."""

    items: list[UserRead]
    next_cursor: str | None = Field(
        description="the cursor of the next page; null on the last page"
    )


class ErrorBody(BaseModel):
    """What went wrong, for people."""

    detail: str


class ConflictBody(ErrorBody):
    """A unique field already taken by another user."""

    field: str


class RevisionBody(BaseModel):
    current: list[str] | None = Field(
        description="revisions in the database's version table; null if unreachable"
    )
    expected: list[str] = Field(description="the head revision(s) of this code")


class HealthBody(BaseModel):
    """200 only when the database is reachable and at the head revision."""

    status: Literal["ok", "not_at_head", "unreachable"]
    detail: str
    revision: RevisionBody
