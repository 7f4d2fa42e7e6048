"""``/health``: 200 only when the database is reachable and at the head revision.

A load balancer or orchestrator takes a 503 as "send no traffic here": the
database is unreachable, or its schema is not the one this code was written for
(behind after a rollback, or ahead after another release migrated it). The body
names the revisions on both sides.
"""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from service.dependencies import DatabaseDep
from service.schemas import HealthBody, RevisionBody

router = APIRouter(tags=["health"])


@router.get(
    "/health",
    response_model=HealthBody,
    responses={503: {"model": HealthBody, "description": "not ready to serve"}},
)
def health(database: DatabaseDep) -> JSONResponse:
    state = database.schema_status()
    body = HealthBody(
        status=state.status,
        detail=state.detail,
        revision=RevisionBody(
            current=list(state.current) if state.current is not None else None,
            expected=list(state.expected),
        ),
    )
    return JSONResponse(
        body.model_dump(mode="json"), status_code=200 if state.status == "ok" else 503
    )
