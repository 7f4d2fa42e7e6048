"""``/users``: create, read, list (keyset pages), update and deactivate users."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Response, status
from fastapi.exceptions import RequestValidationError

from models import User
from service import crud
from service.dependencies import SessionDep
from service.schemas import (
    ConflictBody,
    ErrorBody,
    UserCreate,
    UserPage,
    UserRead,
    UserUpdate,
)

router = APIRouter(prefix="/users", tags=["users"])

NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorBody, "description": "no user with this id"}
}
CONFLICT: dict[int | str, dict[str, Any]] = {
    409: {"model": ConflictBody, "description": "email or username taken"}
}


def _found(user: User | None, user_id: uuid.UUID) -> User:
    if user is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no user with id {user_id}")
    return user


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=UserRead,
    responses={**CONFLICT},
)
def create_user(body: UserCreate, session: SessionDep, response: Response) -> User:
    user = crud.create_user(session, body.model_dump())
    response.headers["Location"] = f"/users/{user.id}"
    return user


@router.get("", response_model=UserPage)
def list_users(
    session: SessionDep,
    limit: Annotated[int, Query(ge=1, le=100, description="users per page")] = 20,
    cursor: Annotated[
        str | None, Query(description="next_cursor from the previous page")
    ] = None,
    active: Annotated[
        bool | None, Query(description="only active (true) or inactive (false) users")
    ] = None,
) -> UserPage:
    try:
        after = crud.Cursor.decode(cursor) if cursor is not None else None
    except crud.BadCursorError as exc:
        raise RequestValidationError(
            [
                {
                    "type": "value_error",
                    "loc": ("query", "cursor"),
                    "msg": str(exc),
                    "input": cursor,
                }
            ]
        ) from None
    users, following = crud.list_users(session, limit=limit, after=after, active=active)
    return UserPage(
        items=[UserRead.model_validate(user) for user in users],
        next_cursor=following.encode() if following is not None else None,
    )


@router.get("/{user_id}", response_model=UserRead, responses={**NOT_FOUND})
def read_user(user_id: uuid.UUID, session: SessionDep) -> User:
    return _found(crud.get_user(session, user_id), user_id)


@router.patch(
    "/{user_id}", response_model=UserRead, responses={**NOT_FOUND, **CONFLICT}
)
def update_user(user_id: uuid.UUID, body: UserUpdate, session: SessionDep) -> User:
    user = _found(crud.get_user(session, user_id), user_id)
    return crud.update_user(session, user, body.changes())


@router.post("/{user_id}/deactivate", response_model=UserRead, responses={**NOT_FOUND})
def deactivate_user(user_id: uuid.UUID, session: SessionDep) -> User:
    """Deactivate a user (idempotent); the row, email and username are kept."""
    return crud.deactivate_user(
        session, _found(crud.get_user(session, user_id), user_id)
    )
