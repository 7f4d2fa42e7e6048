"""One release of the application, as a rolling deploy runs it (uvicorn workers).

The service (``service/``) refuses to start, and ``/health`` answers 503, on any
schema but head: right for a single release, wrong for a rolling deploy, where
the previous release keeps serving while expand, backfill and switch run and
the schema is *ahead* of it on purpose. The benchmark therefore runs the
service's own app (routes, errors, engine) and declares, per release, the
revisions it is written for (``DEPLOY_SUPPORTS``): the "old" release accepts
its own revision up to head, the "new" one the switch revision onwards.

The service has no sign-in endpoint, so a release adds one,
``POST /users/{id}/logins``, that inserts a login event the way that release's
models would: the old release's model of ``login_events.ip_address`` is TEXT
(what revision 006 created), the new one's is ``models.LoginEvent`` (INET).
Nothing else differs: ``users`` does not change across these revisions.

The old release is the one a rolling deploy of 008-011 needs: written for the
TEXT column, but binding the address without a type (``AddressText``), so that
it keeps working when 010 gives the name to the INET column. A release that
binds the text as VARCHAR (SQLAlchemy's ``Text``) is refused from 010 on: see
docs/rolling-deploy.md.

Run by uvicorn as ``benchmarks.deploy.release:create_app`` (a factory, one call
per worker process), configured by the environment the benchmark sets.
"""

from __future__ import annotations

import ipaddress
import os
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from fastapi import FastAPI, HTTPException
from pydantic import BaseModel, field_validator
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import sessionmaker

from migrationkit.command import load_config
from migrationkit.database import resolve_application_database
from migrationkit.settings import Settings
from models import LoginEvent
from service import app as service_app
from service.database import (
    SchemaStatus,
    ServiceDatabase,
    create_application_engine,
)
from service.dependencies import SessionDep

REPO = Path(__file__).resolve().parents[2]


class AddressText(sa.types.UserDefinedType[str]):
    """A TEXT column whose values are bound without a cast, read back as ``str``.

    SQLAlchemy 2 with psycopg binds a ``String``/``Text`` value as
    ``%(ip_address)s::VARCHAR``. That pins the column's *type*, not only its
    name: PostgreSQL has no assignment cast from varchar to inet, so once 010
    renames the INET column to ``ip_address`` such an INSERT fails ("column
    ip_address is of type inet but expression is of type character varying"),
    and so does a ``WHERE ip_address = %(x)s::VARCHAR`` (no inet = varchar
    operator). A parameter without a cast arrives as type *unknown*, which
    PostgreSQL resolves to the column's own type: text before the switch, inet
    (validated) after it. Reads come back as ``str`` either way (psycopg returns
    inet values as ``ipaddress`` objects; their ``str()`` is what ``abbrev()``
    gives: ``10.0.0.1``, ``10.0.0.0/8``).
    """

    cache_ok = True

    def get_col_spec(self, **kw: Any) -> str:
        return "TEXT"

    def result_processor(
        self, dialect: Dialect, coltype: object
    ) -> Callable[[object], str | None]:
        def to_text(value: object) -> str | None:
            return None if value is None else str(value)

        return to_text


OLD_LOGIN_EVENTS = sa.Table(
    "login_events",
    sa.MetaData(),
    sa.Column("id", sa.BigInteger, primary_key=True),
    sa.Column("user_id", sa.Uuid, nullable=False),
    sa.Column("ip_address", AddressText()),
)
"""``login_events`` as the old release's models declared it (before 008-011),
written to survive the switch (010): see ``AddressText``."""

VARCHAR_LOGIN_EVENTS = sa.Table(
    "login_events",
    sa.MetaData(),
    sa.Column("id", sa.BigInteger, primary_key=True),
    sa.Column("user_id", sa.Uuid, nullable=False),
    sa.Column("ip_address", sa.Text),
)
"""The same, as a release written without the switch in mind maps it: its
``ip_address`` is bound as VARCHAR, which the INET column refuses from 010 on.
The benchmark runs it with ``--old-binds varchar``, as the control of the fix."""

OLD_RELEASE_TABLES = {"untyped": OLD_LOGIN_EVENTS, "varchar": VARCHAR_LOGIN_EVENTS}
"""The old release's mapping by ``DEPLOY_OLD_BINDS`` (``--old-binds``)."""


@dataclass(frozen=True, kw_only=True)
class ReleaseDatabase(ServiceDatabase):
    """The service's database, healthy on every revision this release supports."""

    supports: tuple[str, ...]

    def schema_status(self) -> SchemaStatus:
        try:
            with self.engine.connect() as connection:
                current = tuple(
                    MigrationContext.configure(connection).get_current_heads()
                )
        except DBAPIError as exc:
            return SchemaStatus(
                status="unreachable",
                detail=self.masked(str(exc).splitlines()[0]),
                current=None,
                expected=self.supports,
            )
        ok = bool(current) and set(current) <= set(self.supports)
        return SchemaStatus(
            status="ok" if ok else "not_at_head",
            detail=f"at {', '.join(current) or 'base'}",
            current=current,
            expected=self.supports,
        )


class Login(BaseModel):
    ip_address: str

    @field_validator("ip_address")
    @classmethod
    def an_address(cls, value: str) -> str:
        """422 for text that is not an address: the INET column refuses it with
        an error that would otherwise be a 500 (on TEXT, before the switch, it
        would have been stored)."""
        ipaddress.ip_interface(value)  # ValueError: pydantic's 422
        return value


class LoginRecorded(BaseModel):
    id: int


def create_app() -> FastAPI:
    """The service's app plus the sign-in route of release ``DEPLOY_RELEASE``."""
    release = os.environ["DEPLOY_RELEASE"]
    old_table = OLD_RELEASE_TABLES[os.environ.get("DEPLOY_OLD_BINDS", "untyped")]
    supports = tuple(os.environ["DEPLOY_SUPPORTS"].split(","))
    config = load_config(REPO / "alembic.ini")
    settings = Settings.from_environ()
    target = resolve_application_database(settings=settings, config=config)
    engine = create_application_engine(target, settings=settings)
    database = ReleaseDatabase(
        target=target,
        engine=engine,
        sessions=sessionmaker(engine, expire_on_commit=False),
        config=config,
        script=ScriptDirectory.from_config(config),
        supports=supports,
    )
    app = service_app.create_app(database)

    @app.post("/users/{user_id}/logins", status_code=201)
    def sign_in(user_id: uuid.UUID, body: Login, session: SessionDep) -> LoginRecorded:
        if release == "old":
            statement = (
                old_table.insert()
                .values(user_id=user_id, ip_address=body.ip_address)
                .returning(old_table.c.id)
            )
            try:
                new_id = session.execute(statement).scalar_one()
                session.commit()
            except IntegrityError:
                raise HTTPException(404, f"no user with id {user_id}") from None
            return LoginRecorded(id=new_id)
        event = LoginEvent(user_id=user_id, ip_address=body.ip_address)
        session.add(event)
        try:
            session.commit()
        except IntegrityError:
            raise HTTPException(404, f"no user with id {user_id}") from None
        return LoginRecorded(id=event.id)

    return app
