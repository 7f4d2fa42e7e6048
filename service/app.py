"""The application factory: routes, error answers, and the engine's lifetime.

Every error answer is JSON that says what is wrong: 404 and 409 as
``{"detail": ...}`` (409 adds the ``field`` already taken), 422 as FastAPI's
list of validation errors, and 503 when the database cannot be reached during
a request (with ``Retry-After``), instead of a 500 and a traceback.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

from migrationkit.pg import server_message
from service.crud import DuplicateUserError
from service.database import ServiceDatabase
from service.routes import health, users

log = logging.getLogger(__name__)

RETRY_AFTER_SECONDS = 5


def create_app(database: ServiceDatabase) -> FastAPI:
    """The service over ``database`` (opened and checked by ``open_database``)."""

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        database.engine.dispose()

    app = FastAPI(
        title="migration-learning users",
        summary="Users over the SQLAlchemy models this project migrates.",
        version="1.0.0",
        lifespan=lifespan,
    )
    app.state.database = database
    app.include_router(users.router)
    app.include_router(health.router)

    async def duplicate(_request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, DuplicateUserError)
        return JSONResponse({"detail": str(exc), "field": exc.field}, status_code=409)

    async def unavailable(_request: Request, exc: Exception) -> JSONResponse:
        log.warning("database unavailable: %s", database.masked(server_message(exc)))
        return JSONResponse(
            {"detail": "the database is unavailable right now; try again shortly"},
            status_code=503,
            headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
        )

    app.add_exception_handler(DuplicateUserError, duplicate)
    app.add_exception_handler(OperationalError, unavailable)
    app.add_exception_handler(PoolTimeoutError, unavailable)  # every connection busy
    return app
