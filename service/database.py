"""The service's database: a pooled engine that works through a pooler, sessions,
and the schema check behind start-up and ``/health``.

The service connects with ``DATABASE_URL`` even when it goes through a transaction
pooler (Neon's pooled string, PgBouncer): its transactions are short and hold
no session state, which is what such a pooler is for. Its engine is migrationkit's
one engine factory with a pool (``migrationkit.database.create_engine``), which
keeps psycopg from preparing statements on the server for that reason.

The schema check compares the version table with the migration scripts' heads.
The service refuses to start on a database that is not at head (it would serve
errors about missing columns), and ``/health`` reports 503 when it stops being so
(a rollback, another release's migration) or when the database is unreachable.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import sqlalchemy as sa
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from sqlalchemy.orm import Session, sessionmaker

from migrationkit import (
    ConnectionPool,
    DatabaseTarget,
    MigrationKitError,
    Settings,
    create_engine,
    load_config,
    mask_secrets,
    resolve_application_database,
    wait_for_server,
)
from migrationkit.pg import server_message
from migrationkit.verify import check_revision, ledger_findings

log = logging.getLogger(__name__)

APPLICATION_NAME = "migration-learning"
POOL = ConnectionPool(size=5, overflow=5, timeout=10.0)
"""Five connections per process (five more at peak); a request waits 10 s at most."""


class SchemaNotAtHeadError(MigrationKitError):
    """The database is not at the revision this code was written for."""


def create_application_engine(
    target: DatabaseTarget, *, settings: Settings
) -> sa.Engine:
    """The service's pooled engine, named ``migration-learning`` on the server."""
    return create_engine(
        target, settings=settings, application_name=APPLICATION_NAME, pool=POOL
    )


@dataclass(frozen=True, kw_only=True)
class SchemaStatus:
    """Where the database stands against the migration scripts (``/health``)."""

    status: Literal["ok", "not_at_head", "unreachable"]
    detail: str
    current: tuple[str, ...] | None
    """The version table's revisions; None when the database could not be read."""
    expected: tuple[str, ...]


@dataclass(frozen=True, kw_only=True)
class ServiceDatabase:
    """Everything the routes need from the database, opened once at start-up."""

    target: DatabaseTarget
    engine: sa.Engine
    sessions: sessionmaker[Session]
    config: Config
    script: ScriptDirectory

    @property
    def expected(self) -> tuple[str, ...]:
        return tuple(self.script.get_heads())

    def session(self) -> Iterator[Session]:
        """One session per request; whatever it did not commit is rolled back."""
        with self.sessions() as session:
            yield session

    def schema_status(self) -> SchemaStatus:
        """Reachable and at head, or why not (never raises for a database error)."""
        expected = self.expected
        try:
            with self.engine.connect() as connection:
                current = tuple(
                    MigrationContext.configure(connection).get_current_heads()
                )
                if set(current) == set(expected):
                    # the ledger's findings (open review flags, edited revisions)
                    # are news for operators, not a reason to stop serving
                    _, findings = ledger_findings(
                        connection, script=self.script, config=self.config
                    )
                    return SchemaStatus(
                        status="ok",
                        detail="; ".join([f"at head {', '.join(expected)}", *findings]),
                        current=current,
                        expected=expected,
                    )
                result = check_revision(
                    connection, script=self.script, config=self.config
                )
        except (DBAPIError, PoolTimeoutError) as exc:
            return SchemaStatus(
                status="unreachable",
                detail=f"cannot reach the database: {self.masked(server_message(exc))}",
                current=None,
                expected=expected,
            )
        fix = f"; {result.fix}" if result.fix else ""
        return SchemaStatus(
            status="not_at_head",
            detail=f"{result.summary}{fix}",
            current=current,
            expected=expected,
        )

    def masked(self, text: str) -> str:
        return mask_secrets(text, self.target.password)


def open_database(settings: Settings, *, alembic_ini: Path) -> ServiceDatabase:
    """Connect (waiting for a waking server), and refuse a schema not at head."""
    config = load_config(alembic_ini)
    script = ScriptDirectory.from_config(config)
    target = resolve_application_database(settings=settings, config=config)
    engine = create_application_engine(target, settings=settings)
    try:
        with wait_for_server(engine, target, settings=settings) as connection:
            result = check_revision(connection, script=script, config=config)
    except BaseException:
        engine.dispose()
        raise
    if not result.ok:
        engine.dispose()
        fix = f"\n  fix: {result.fix}" if result.fix else ""
        raise SchemaNotAtHeadError(f"not starting: {result.summary}{fix}")
    log.info("database %s: %s", target.describe(), result.summary)
    return ServiceDatabase(
        target=target,
        engine=engine,
        sessions=sessionmaker(engine, expire_on_commit=False),
        config=config,
        script=script,
    )
