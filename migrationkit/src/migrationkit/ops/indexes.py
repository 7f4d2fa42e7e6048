"""Indexes built and dropped CONCURRENTLY, so writes go on, and safe to rerun.

``op.create_index`` holds a SHARE lock for the whole build: no INSERT, UPDATE or
DELETE on the table until it ends, which on ten million rows is seconds to
minutes. The concurrent build takes SHARE UPDATE EXCLUSIVE instead, at the price
of running outside a transaction and leaving an INVALID index behind when it is
cut short. A unique one may be *ready* by then: it serves no query, yet every
write is checked against it. So a failed build drops its leftover at once
(bounded by ``lock_timeout``), a leftover that could not be dropped is recorded for
the failure message, and the next attempt drops and rebuilds it.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from alembic.operations import MigrateOperation, Operations
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from migrationkit.errors import MigrationKitError
from migrationkit.ops.catalog import IndexState, index_state, table_sql
from migrationkit.ops.safety import safe_operation
from migrationkit.pg import (
    UNIQUE_VIOLATION,
    qualified_name,
    server_message,
    sqlstate_of,
)
from migrationkit.runtime.journal import Leftover, current_journal

log = logging.getLogger(__name__)


@safe_operation("create_index_concurrently")
@Operations.register_operation("create_index_concurrently")
class CreateIndexConcurrentlyOp(MigrateOperation):
    """``op.create_index_concurrently(...)``: a registered Alembic operation."""

    def __init__(
        self,
        index_name: str,
        table_name: str,
        columns: Sequence[str],
        *,
        unique: bool = False,
        where: str | None = None,
        schema: str | None = None,
    ) -> None:
        self.index_name = index_name
        self.table_name = table_name
        self.columns = list(columns)
        self.unique = unique
        self.where = where
        self.schema = schema

    @classmethod
    def create_index_concurrently(
        cls,
        operations: Operations,
        index_name: str,
        table_name: str,
        columns: Sequence[str],
        *,
        unique: bool = False,
        where: str | None = None,
        schema: str | None = None,
    ) -> None:
        """Build an index CONCURRENTLY (SHARE UPDATE EXCLUSIVE: writes go on);
        see ``migrationkit.ops.create_index_concurrently``."""
        operations.invoke(
            cls(
                index_name,
                table_name,
                columns,
                unique=unique,
                where=where,
                schema=schema,
            )
        )


@safe_operation("drop_index_concurrently")
@Operations.register_operation("drop_index_concurrently")
class DropIndexConcurrentlyOp(MigrateOperation):
    """``op.drop_index_concurrently(...)``: a registered Alembic operation."""

    def __init__(
        self,
        index_name: str,
        *,
        table_name: str | None = None,
        schema: str | None = None,
    ) -> None:
        self.index_name = index_name
        self.table_name = table_name
        self.schema = schema

    @classmethod
    def drop_index_concurrently(
        cls,
        operations: Operations,
        index_name: str,
        *,
        table_name: str | None = None,
        schema: str | None = None,
    ) -> None:
        """Drop an index CONCURRENTLY (no ACCESS EXCLUSIVE); see
        ``migrationkit.ops.drop_index_concurrently``."""
        operations.invoke(cls(index_name, table_name=table_name, schema=schema))


def create_index_concurrently(
    index_name: str,
    table_name: str,
    columns: Sequence[str],
    *,
    unique: bool = False,
    where: str | None = None,
    schema: str | None = None,
) -> None:
    """Build an index with ``CREATE [UNIQUE] INDEX CONCURRENTLY``.

    Lock taken: SHARE UPDATE EXCLUSIVE on the table (reads and writes go on; only
    other DDL and VACUUM wait). Lock avoided: the SHARE lock of a plain
    ``CREATE INDEX``, which blocks every INSERT/UPDATE/DELETE for the whole build.

    ``CONCURRENTLY`` cannot run in a transaction, so this runs in Alembic's
    ``autocommit_block`` (the revision's work so far is committed first). A valid
    index of this name on this table ends the work; an INVALID one (left by a
    build that did not finish) is dropped and built again. When the build fails
    (duplicates for a unique index, a lock timeout, a cancel), its leftover is
    dropped at once, waiting at most ``lock_timeout``; if even that times out the
    leftover is recorded, and the failure message says it is there and what it
    does. ``schema=None`` means the search path, as for ``op.create_index``.
    """
    op.invoke(
        CreateIndexConcurrentlyOp(
            index_name, table_name, columns, unique=unique, where=where, schema=schema
        )
    )


def drop_index_concurrently(
    index_name: str, *, table_name: str | None = None, schema: str | None = None
) -> None:
    """Drop an index with ``DROP INDEX CONCURRENTLY IF EXISTS``.

    Lock taken: SHARE UPDATE EXCLUSIVE on the table, after waiting for the
    transactions using it. Lock avoided: the ACCESS EXCLUSIVE lock of a plain
    ``DROP INDEX``, which blocks even reads of the table while it waits in line.
    Runs in Alembic's ``autocommit_block``; dropping a missing index is a no-op.
    """
    op.invoke(DropIndexConcurrentlyOp(index_name, table_name=table_name, schema=schema))


@Operations.implementation_for(DropIndexConcurrentlyOp)
def _drop_index_concurrently(
    operations: Operations, operation: DropIndexConcurrentlyOp
) -> None:
    with operations.get_context().autocommit_block():
        _drop_index(operations, operation.index_name, schema=operation.schema)


@Operations.implementation_for(CreateIndexConcurrentlyOp)
def _create_index_concurrently(
    operations: Operations, operation: CreateIndexConcurrentlyOp
) -> None:
    context = operations.get_context()
    with context.autocommit_block():
        if context.as_sql:
            _emit_create_index(operations, operation)
            return
        existing = index_state(
            operations,
            operation.index_name,
            table_name=operation.table_name,
            schema=operation.schema,
        )
        if existing is not None:
            if _keep(operation, existing):
                return
            log.warning(
                "index %s on %s is INVALID (left by an earlier concurrent build that "
                "did not finish); dropping it and building it again",
                operation.index_name,
                operation.table_name,
            )
            _drop_index(operations, operation.index_name, schema=existing.schema)
            _forget_leftover(operation, existing)
        try:
            _emit_create_index(operations, operation)
        except DBAPIError as exc:
            dropped = _drop_after_failed_build(operations, operation)
            if sqlstate_of(exc) != UNIQUE_VIOLATION:
                raise  # lock timeouts stay themselves, so the runtime can retry
            raise _duplicates_error(exc, operation, dropped=dropped) from exc


def _keep(operation: CreateIndexConcurrentlyOp, existing: IndexState) -> bool:
    """True when the existing index is the finished one; raise when it is another."""
    if existing.table_name != operation.table_name:
        raise MigrationKitError(
            f"Cannot create index {operation.index_name!r} on "
            f"{operation.table_name!r}: an index of that name already exists on "
            f"{existing.table_name!r}. Index names are unique per schema; pick "
            "another name."
        )
    if not existing.valid:
        return False
    if operation.unique and not existing.unique:
        raise MigrationKitError(
            f"Index {operation.index_name!r} on {operation.table_name!r} exists but "
            "is not UNIQUE. Drop it (drop_index_concurrently) or use another name, "
            "then run the migration again."
        )
    log.info(
        "index %s on %s exists and is valid",
        operation.index_name,
        operation.table_name,
    )
    return True


def _emit_create_index(
    operations: Operations, operation: CreateIndexConcurrentlyOp
) -> None:
    operations.create_index(
        operation.index_name,
        operation.table_name,
        operation.columns,
        schema=operation.schema,
        unique=operation.unique,
        postgresql_concurrently=True,
        postgresql_where=sa.text(operation.where) if operation.where else None,
    )


def _drop_index(operations: Operations, index_name: str, *, schema: str | None) -> None:
    operations.drop_index(
        index_name, schema=schema, postgresql_concurrently=True, if_exists=True
    )


def _drop_after_failed_build(
    operations: Operations, operation: CreateIndexConcurrentlyOp
) -> bool:
    """Drop the failed build's INVALID index; True when none is left behind.

    The drop waits at most ``lock_timeout``, like every migration statement: a
    session holding a lock on the table (the one that made the build time out,
    often) makes it give up, and the leftover is then recorded in the run's
    journal, so the final message says it is there.
    """
    state: IndexState | None = None
    try:
        state = index_state(
            operations,
            operation.index_name,
            table_name=operation.table_name,
            schema=operation.schema,
        )
        if state is None or state.valid:
            return True
        _drop_index(operations, operation.index_name, schema=state.schema)
    except SQLAlchemyError as exc:
        if state is None:  # the session itself is gone: the next run cleans up
            log.debug("cannot inspect the failed build's index: %s", exc)
            return False
        leftover = index_leftover(operation, state)
        journal = current_journal()
        if journal is not None:
            journal.left_behind(leftover)
        log.warning(
            "could not drop %s left by the failed build (%s). %s The next run "
            "drops and rebuilds it; to drop it now: %s",
            leftover.what,
            server_message(exc),
            leftover.effect,
            leftover.drop_sql,
        )
        return False
    return True


def index_leftover(operation: CreateIndexConcurrentlyOp, state: IndexState) -> Leftover:
    """Describe the INVALID index a failed build left, by what it does."""
    name = qualified_name(operation.index_name, schema=state.schema)
    table = table_sql(state.table_name, schema=state.schema)
    if state.unique and state.ready:
        effect = (
            "It is INVALID but ready: it serves no query, yet every write is checked "
            f"against it, so it refuses duplicate ({', '.join(operation.columns)}) "
            "values as a unique constraint would."
        )
    elif state.ready:
        effect = (
            "It is INVALID but ready: it serves no query, yet every write updates it."
        )
    else:
        effect = "It is INVALID and not ready: it serves no query and writes skip it."
    literal = "'" + name.replace("'", "''") + "'"
    return Leftover(
        key=f"index {name}",
        what=f"{'unique ' if state.unique else ''}index {name} on {table}",
        effect=effect,
        drop_sql=f"DROP INDEX CONCURRENTLY IF EXISTS {name}",
        exists_sql=(
            "SELECT EXISTS (SELECT 1 FROM pg_index"
            f" WHERE indexrelid = to_regclass({literal}) AND NOT indisvalid)"
        ),
    )


def _forget_leftover(operation: CreateIndexConcurrentlyOp, state: IndexState) -> None:
    journal = current_journal()
    if journal is not None:
        journal.cleaned_up(index_leftover(operation, state).key)


def _duplicates_error(
    exc: DBAPIError, operation: CreateIndexConcurrentlyOp, *, dropped: bool
) -> MigrationKitError:
    leftover = (
        "The half-built INVALID index was dropped."
        if dropped
        else "The half-built INVALID index could not be dropped; the next run drops "
        "it before building again."
    )
    return MigrationKitError(
        f"Cannot build unique index {operation.index_name!r} on "
        f"{operation.table_name}({', '.join(operation.columns)}): the table holds "
        f"duplicate values ({server_message(exc)}). {leftover} Resolve the "
        "duplicates (for example in a data migration before this step), then run "
        "the migration again."
    )
