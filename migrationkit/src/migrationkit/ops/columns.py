"""Columns made NOT NULL, or added NOT NULL to a filled table, without a locked scan.

``ALTER COLUMN ... SET NOT NULL`` proves that no row is NULL by reading the whole
table under ACCESS EXCLUSIVE: no reads, no writes until the scan ends. PostgreSQL
12+ skips that scan when a validated ``CHECK (col IS NOT NULL)`` already proves
it, and a CHECK can be validated under SHARE UPDATE EXCLUSIVE. The steps commit on
their own, so each looks at the catalog first and a rerun carries on.
"""

from __future__ import annotations

import hashlib
import logging
from typing import Any

import sqlalchemy as sa
from alembic import op
from alembic.operations import MigrateOperation, Operations
from sqlalchemy.exc import DBAPIError

from migrationkit.errors import MigrationKitError
from migrationkit.ops.backfill import DEFAULT_BATCH_SIZE, BackfillOp
from migrationkit.ops.catalog import (
    column_not_null,
    constraint_state,
    count_nulls,
    online,
    table_sql,
)
from migrationkit.ops.constraints import validate
from migrationkit.ops.safety import safe_operation
from migrationkit.pg import (
    CHECK_VIOLATION,
    MAX_IDENTIFIER_BYTES,
    quote_identifier,
    sqlstate_of,
)

log = logging.getLogger(__name__)


@safe_operation("add_not_null")
@Operations.register_operation("add_not_null")
class AddNotNullOp(MigrateOperation):
    """``op.add_not_null(...)``: a registered Alembic operation."""

    def __init__(
        self, table_name: str, column_name: str, *, schema: str | None = None
    ) -> None:
        self.table_name = table_name
        self.column_name = column_name
        self.schema = schema

    @classmethod
    def add_not_null(
        cls,
        operations: Operations,
        table_name: str,
        column_name: str,
        *,
        schema: str | None = None,
    ) -> None:
        """SET NOT NULL proven by a validated CHECK; see
        ``migrationkit.ops.add_not_null``."""
        operations.invoke(cls(table_name, column_name, schema=schema))


@safe_operation("add_not_null_column")
@Operations.register_operation("add_not_null_column")
class AddNotNullColumnOp(MigrateOperation):
    """``op.add_not_null_column(...)``: a registered Alembic operation."""

    def __init__(
        self,
        table_name: str,
        column: sa.Column[Any],
        *,
        backfill_sql: str,
        batch_size: int = DEFAULT_BATCH_SIZE,
        key: str = "id",
        schema: str | None = None,
    ) -> None:
        self.table_name = table_name
        self.column = column
        self.backfill_sql = backfill_sql
        self.batch_size = batch_size
        self.key = key
        self.schema = schema

    @classmethod
    def add_not_null_column(
        cls,
        operations: Operations,
        table_name: str,
        column: sa.Column[Any],
        *,
        backfill_sql: str,
        batch_size: int = DEFAULT_BATCH_SIZE,
        key: str = "id",
        schema: str | None = None,
    ) -> None:
        """Add nullable, backfill in batches, then NOT NULL; see
        ``migrationkit.ops.add_not_null_column``."""
        operations.invoke(
            cls(
                table_name,
                column,
                backfill_sql=backfill_sql,
                batch_size=batch_size,
                key=key,
                schema=schema,
            )
        )


def add_not_null(
    table_name: str, column_name: str, *, schema: str | None = None
) -> None:
    """Make a column NOT NULL without scanning the table under ACCESS EXCLUSIVE.

    Steps: ``ADD CONSTRAINT ... CHECK (col IS NOT NULL) NOT VALID`` (ACCESS
    EXCLUSIVE for milliseconds, no scan; new rows are checked from now on), then
    ``VALIDATE CONSTRAINT`` in its own transaction (the scan, under SHARE UPDATE
    EXCLUSIVE: reads and writes go on), then ``SET NOT NULL``, which PostgreSQL 12+
    proves from the validated check instead of scanning, and finally the helper
    check is dropped. Lock avoided: a bare ``SET NOT NULL`` holds ACCESS
    EXCLUSIVE (no reads, no writes) while it scans every row.

    Idempotent: a column already NOT NULL only loses a leftover helper check, and
    a helper check validated by a run cut short is not validated again. If NULLs
    remain, the helper check is removed again and a ``MigrationKitError`` says how
    many rows need a value.
    """
    op.invoke(AddNotNullOp(table_name, column_name, schema=schema))


def add_not_null_column(
    table_name: str,
    column: sa.Column[Any],
    *,
    backfill_sql: str,
    batch_size: int = DEFAULT_BATCH_SIZE,
    key: str = "id",
    schema: str | None = None,
) -> None:
    """Add a NOT NULL column to a filled table: add nullable, backfill, then NOT NULL.

    ``backfill_sql`` is the SQL expression giving existing rows their value (for
    example ``split_part(email, '@', 1)``). Locks: ACCESS EXCLUSIVE for the
    catalog-only ``ADD COLUMN`` (milliseconds), ROW EXCLUSIVE and per-batch row
    locks during ``backfill_in_batches``, then those of ``add_not_null``. Avoided:
    a NOT NULL column with a volatile default, or a single UPDATE, which rewrite or
    lock every row in one long transaction. Rerunnable: an existing column is not
    added again, and the backfill only finds rows still NULL.
    """
    op.invoke(
        AddNotNullColumnOp(
            table_name,
            column,
            backfill_sql=backfill_sql,
            batch_size=batch_size,
            key=key,
            schema=schema,
        )
    )


@Operations.implementation_for(AddNotNullOp)
def _add_not_null(operations: Operations, operation: AddNotNullOp) -> None:
    table_name, column_name, schema = (
        operation.table_name,
        operation.column_name,
        operation.schema,
    )
    check = not_null_check_name(table_name, column_name)
    table, column = table_sql(table_name, schema=schema), quote_identifier(column_name)
    check_sql = quote_identifier(check)
    state = None
    if online(operations):
        not_null = column_not_null(operations, table_name, column_name, schema=schema)
        if not_null is None:
            raise MigrationKitError(
                f"Cannot make {table_name}.{column_name} NOT NULL: the table has no "
                "such column."
            )
        state = constraint_state(
            operations, check, table_name=table_name, schema=schema
        )
        if not_null:
            if state is not None:
                operations.execute(f"ALTER TABLE {table} DROP CONSTRAINT {check_sql}")
            log.info("%s.%s is already NOT NULL", table_name, column_name)
            return
    if state is None:
        operations.execute(
            f"ALTER TABLE {table} ADD CONSTRAINT {check_sql} "
            f"CHECK ({column} IS NOT NULL) NOT VALID"
        )
    if state is None or not state.validated:
        with operations.get_context().autocommit_block():
            try:
                validate(operations, check, table_name=table_name, schema=schema)
            except DBAPIError as exc:
                if sqlstate_of(exc) != CHECK_VIOLATION:
                    raise
                nulls = count_nulls(operations, table_name, column_name, schema=schema)
                operations.execute(
                    f"ALTER TABLE {table} DROP CONSTRAINT IF EXISTS {check_sql}"
                )
                raise MigrationKitError(
                    f"Cannot make {table_name}.{column_name} NOT NULL: {nulls} "
                    "row(s) still hold NULL there. A NOT NULL column needs a value "
                    "in every row; fill them first (for example with "
                    "migrationkit.ops.backfill_in_batches in an earlier step), then "
                    "run the migration again."
                ) from exc
    operations.execute(f"ALTER TABLE {table} ALTER COLUMN {column} SET NOT NULL")
    operations.execute(f"ALTER TABLE {table} DROP CONSTRAINT {check_sql}")


@Operations.implementation_for(AddNotNullColumnOp)
def _add_not_null_column(operations: Operations, operation: AddNotNullColumnOp) -> None:
    table_name, column, schema = (
        operation.table_name,
        operation.column,
        operation.schema,
    )
    if (
        not online(operations)
        or column_not_null(operations, table_name, column.name, schema=schema) is None
    ):
        nullable = column._copy()
        nullable.nullable = True
        operations.add_column(table_name, nullable, schema=schema)
    name = quote_identifier(column.name)
    operations.invoke(
        BackfillOp(
            table=table_name,
            set_sql=f"{name} = {operation.backfill_sql}",
            pending_sql=f"{name} IS NULL",
            key=operation.key,
            batch_size=operation.batch_size,
            label=f"{table_name}.{column.name}",
            schema=schema,
        )
    )
    operations.invoke(AddNotNullOp(table_name, column.name, schema=schema))


def not_null_check_name(table_name: str, column_name: str) -> str:
    """The helper check's name: recognisable, and within PostgreSQL's 63 bytes."""
    name = f"ck_{table_name}_{column_name}_not_null_tmp"
    if len(name.encode()) <= MAX_IDENTIFIER_BYTES:
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:8]
    return f"ck_{table_name}_{column_name}"[:44] + f"_{digest}_not_null_tmp"
