"""What a route receives: the service's database and a session per request."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, cast

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from service.database import ServiceDatabase


def get_database(request: Request) -> ServiceDatabase:
    return cast("ServiceDatabase", request.app.state.database)


def get_session(request: Request) -> Iterator[Session]:
    yield from get_database(request).session()


DatabaseDep = Annotated[ServiceDatabase, Depends(get_database)]
SessionDep = Annotated[Session, Depends(get_session)]
