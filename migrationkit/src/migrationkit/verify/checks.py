"""Verify a live database against an Alembic project: the guide's checks, the ledger.

``run_checks`` inspects the connection the project's env.py opens (see
``migrationkit.command.verify``) and returns a ``VerificationReport``: plain data,
one ``CheckResult`` per check,
which ``migrationkit.verify.report`` renders for people or as JSON. Nothing here
prints, and nothing here writes to the database for good:

1. ``connectivity``: server version, database and user (never the password);
2. ``table_structure`` and 3. ``indexes_and_constraints``: the models against the
   schema (``migrationkit.verify.schema``);
4. ``model_functionality``: the project's own model checks, run through the ORM
   inside one transaction that is always rolled back;
5. ``revision``: the revision stored in the database against the script heads
   (``migrationkit.verify.revision``);
6. ``ledger``: applied revisions whose file was edited or is gone, a broken hash
   chain, open review flags (``migrationkit.verify.ledger``).

A connection that cannot be opened is reported as a failed ``connectivity`` check
(the other checks need one and are not run); a URL that cannot be used at all
raises ``MigrationKitError`` before there is anything to report.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

import sqlalchemy as sa
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import Session

from migrationkit.database import (
    DatabaseTarget,
    UrlSource,
    configured_url,
    connection_error,
    describe_location,
    mask_secrets,
)
from migrationkit.errors import DatabaseConnectionError
from migrationkit.pg import LOCK_NOT_AVAILABLE, sqlstate_of
from migrationkit.settings import Settings
from migrationkit.verify.ledger import check_ledger
from migrationkit.verify.result import CheckResult, DatabaseInfo, VerificationReport
from migrationkit.verify.revision import check_revision, has_version_table
from migrationkit.verify.schema import check_schema

ModelCheck = Callable[[Session], str | None]
"""A project's check of its models: given a Session, return a failure message or
None, or raise (an ``AssertionError``'s message, or any exception, is the failure).
The session runs in its own SAVEPOINT inside a transaction that is rolled back, so a
check may add, flush and even ``commit()`` (that only releases its savepoint)."""

MODEL_CHECK_LOCK_TIMEOUT = "5s"
"""How long a model check waits for a table lock before giving up: a migration
running right now may hold ACCESS EXCLUSIVE on the table for a long time."""


def unreachable_report(
    exc: DatabaseConnectionError, *, target: DatabaseTarget | None
) -> VerificationReport:
    """The report when no connection could be opened: one failed check, the why."""
    database = (
        _describe_target(target)
        if target is not None
        else DatabaseInfo(
            url="(embedded server)",
            source=UrlSource.EMBEDDED.value,
            location="the embedded server's socket",
        )
    )
    return VerificationReport(
        database=database,
        checks=(
            CheckResult(
                name="connectivity",
                title="connectivity",
                ok=False,
                summary=str(exc),
                details=("the other checks need a connection and were not run",),
            ),
        ),
    )


def run_checks(
    connection: sa.Connection,
    *,
    config: Config,
    script: ScriptDirectory,
    metadata: sa.MetaData | Sequence[sa.MetaData],
    model_checks: Sequence[ModelCheck],
    settings: Settings,
) -> VerificationReport:
    """The six checks on an open connection (left outside any transaction)."""
    if connection.in_transaction():
        connection.rollback()
    target = DatabaseTarget(
        connection.engine.url, _source_of(connection, settings=settings, config=config)
    )
    metadatas = [metadata] if isinstance(metadata, sa.MetaData) else list(metadata)
    try:
        with _read_only(connection):
            database, connectivity = check_connectivity(connection, target=target)
            schema = check_schema(connection, metadata=metadatas[0], config=config)
            revision = check_revision(connection, script=script, config=config)
            ledger = check_ledger(connection, script=script, config=config)
            migrated = has_version_table(connection)
        functionality = run_model_checks(
            connection, checks=model_checks, missing_tables=schema.missing_tables
        )
    except OperationalError as exc:  # the server went away mid-way
        raise connection_error(exc, target) from None
    if not migrated:
        return _never_migrated(database, connectivity, revision)
    return VerificationReport(
        database=database,
        checks=(
            connectivity,
            schema.structure,
            schema.constraints,
            functionality,
            revision,
            ledger,
        ),
    )


def _never_migrated(
    database: DatabaseInfo, connectivity: CheckResult, revision: CheckResult
) -> VerificationReport:
    """Nothing was ever migrated: say that first, and nothing that misleads.

    Every table of the models is missing then, and the schema checks' usual advice
    (write a migration) would send a newcomer the wrong way.
    """
    skipped = "not checked: this database was never migrated (see revision)"
    return VerificationReport(
        database=database,
        headline=(
            "this database was never migrated; run `alembic upgrade head` to "
            "create the schema, then verify again."
        ),
        checks=(
            connectivity,
            CheckResult(
                name="table_structure",
                title="table structure",
                ok=False,
                summary=skipped,
            ),
            CheckResult(
                name="indexes_and_constraints",
                title="indexes and constraints",
                ok=False,
                summary=skipped,
            ),
            CheckResult(
                name="model_functionality",
                title="model functionality",
                ok=False,
                summary=skipped,
            ),
            revision,
        ),
    )


def _source_of(
    connection: sa.Connection, *, settings: Settings, config: Config
) -> UrlSource:
    configured = configured_url(settings=settings, config=config)
    url = connection.engine.url
    if configured is not None and configured.url.database == url.database:
        return configured.source
    return UrlSource.EMBEDDED if configured is None else UrlSource.HANDED_IN


@contextmanager
def _read_only(connection: sa.Connection) -> Iterator[None]:
    """A READ ONLY transaction, rolled back: inspection can never change anything."""
    with connection.begin() as transaction:
        connection.execute(sa.text("SET TRANSACTION READ ONLY"))
        try:
            yield
        finally:
            transaction.rollback()


def _describe_target(target: DatabaseTarget) -> DatabaseInfo:
    return DatabaseInfo(
        url=target.masked,
        source=target.source.value,
        location=describe_location(target.url),
    )


def check_connectivity(
    connection: sa.Connection, *, target: DatabaseTarget
) -> tuple[DatabaseInfo, CheckResult]:
    """Who and where we are connected: what a person needs to trust the rest."""
    row = connection.execute(
        sa.text(
            "SELECT current_setting('server_version') AS server_version,"
            "       current_database() AS database, current_user AS username,"
            "       current_schema() AS schema_name"
        )
    ).one()
    base = _describe_target(target)
    info = DatabaseInfo(
        url=base.url,
        source=base.source,
        location=base.location,
        server_version=row.server_version,
        database=row.database,
        user=row.username,
    )
    result = CheckResult(
        name="connectivity",
        title="connectivity",
        ok=True,
        summary=(
            f"PostgreSQL {row.server_version} at {info.location}, database "
            f"{row.database!r} as user {row.username!r}"
        ),
        details=(
            f"url: {info.url} (from {info.source})",
            f"schema: {row.schema_name}",
        ),
    )
    return info, result


def run_model_checks(
    connection: sa.Connection,
    *,
    checks: Sequence[ModelCheck],
    missing_tables: Sequence[str] = (),
) -> CheckResult:
    """Run each model check in its own SAVEPOINT; roll everything back at the end.

    The outer transaction is always rolled back, whatever the checks did, so rows
    they create never become visible to anyone. ``lock_timeout`` bounds the wait
    for a table lock held by a running migration.
    """
    title = "model functionality"
    if missing_tables:
        return CheckResult(
            name="model_functionality",
            title=title,
            ok=False,
            summary="not run: tables of the models are missing (see table structure)",
            details=tuple(f"missing: {name}" for name in missing_tables),
        )
    if not checks:
        return CheckResult(
            name="model_functionality",
            title=title,
            ok=True,
            skipped=True,
            summary="not run: the project gives no model checks (verify_main's "
            "model_checks)",
        )
    details: list[str] = []
    failures = 0
    with connection.begin() as transaction:
        try:
            connection.execute(
                sa.text(f"SET LOCAL lock_timeout = '{MODEL_CHECK_LOCK_TIMEOUT}'")
            )
            for check in checks:
                failure = _run_one(connection, check)
                label = _check_label(check)
                if failure is None:
                    details.append(f"ok    {label}")
                else:
                    failures += 1
                    details.append(f"FAIL  {label}: {failure}")
        finally:
            transaction.rollback()
    if failures:
        summary = f"{failures} of {len(checks)} model checks failed"
    else:
        summary = f"{len(checks)} model checks passed (all rolled back)"
    return CheckResult(
        name="model_functionality",
        title=title,
        ok=failures == 0,
        summary=summary,
        details=tuple(details),
    )


def _run_one(connection: sa.Connection, check: ModelCheck) -> str | None:
    # create_savepoint: the Session works inside a SAVEPOINT of our transaction,
    # and closing it rolls that savepoint back, so checks cannot see each other.
    with Session(bind=connection, join_transaction_mode="create_savepoint") as session:
        try:
            return check(session)
        except AssertionError as exc:
            return mask_secrets(str(exc)) or "assertion failed"
        except DBAPIError as exc:
            return _describe_database_error(exc)
        except Exception as exc:  # noqa: BLE001 - any error of a check is its failure
            return mask_secrets(f"{type(exc).__name__}: {exc}")


def _describe_database_error(exc: DBAPIError) -> str:
    if sqlstate_of(exc) == LOCK_NOT_AVAILABLE:
        return (
            f"waited {MODEL_CHECK_LOCK_TIMEOUT} for a table lock that another session "
            "holds (a migration running right now?); verify again once it is done"
        )
    first_line = str(exc.orig or exc).strip().splitlines()[0]
    return mask_secrets(f"{type(exc.orig or exc).__name__}: {first_line}")


def _check_label(check: ModelCheck) -> str:
    name = getattr(check, "__name__", type(check).__name__)
    doc = (getattr(check, "__doc__", None) or "").strip().splitlines()
    return f"{name} ({doc[0].rstrip('.')})" if doc else name
