"""Constraints added without checking every row under a lock that stops writes.

A plain ``ADD CONSTRAINT`` checks existing rows while holding its lock: ACCESS
EXCLUSIVE for a UNIQUE constraint (it builds the index under it), SHARE ROW
EXCLUSIVE on both tables for a foreign key. Here the check runs under a lock that
lets reads and writes go on, and the strong lock is held only for catalog updates.
Each operation looks at what exists first, so a rerun carries on where a cut-short
run stopped.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from alembic import op
from alembic.operations import MigrateOperation, Operations
from sqlalchemy.exc import DBAPIError

from migrationkit.errors import MigrationKitError
from migrationkit.ops.catalog import constraint_state, online, table_sql
from migrationkit.ops.indexes import CreateIndexConcurrentlyOp
from migrationkit.ops.safety import safe_operation
from migrationkit.pg import (
    CHECK_VIOLATION,
    FOREIGN_KEY_VIOLATION,
    quote_identifier,
    server_message,
    sqlstate_of,
)

log = logging.getLogger(__name__)


@safe_operation("add_unique_constraint_using_index")
@Operations.register_operation("add_unique_constraint_using_index")
class AddUniqueConstraintUsingIndexOp(MigrateOperation):
    """``op.add_unique_constraint_using_index(...)``: a registered operation."""

    def __init__(
        self,
        constraint_name: str,
        table_name: str,
        columns: Sequence[str],
        *,
        schema: str | None = None,
    ) -> None:
        self.constraint_name = constraint_name
        self.table_name = table_name
        self.columns = list(columns)
        self.schema = schema

    @classmethod
    def add_unique_constraint_using_index(
        cls,
        operations: Operations,
        constraint_name: str,
        table_name: str,
        columns: Sequence[str],
        *,
        schema: str | None = None,
    ) -> None:
        """UNIQUE from an index built CONCURRENTLY; see
        ``migrationkit.ops.add_unique_constraint_using_index``."""
        operations.invoke(cls(constraint_name, table_name, columns, schema=schema))


@safe_operation("add_foreign_key_not_valid")
@Operations.register_operation("add_foreign_key_not_valid")
class AddForeignKeyNotValidOp(MigrateOperation):
    """``op.add_foreign_key_not_valid(...)``: a registered operation."""

    def __init__(
        self,
        constraint_name: str,
        source_table: str,
        referent_table: str,
        local_cols: Sequence[str],
        remote_cols: Sequence[str],
        *,
        ondelete: str | None = None,
        schema: str | None = None,
        referent_schema: str | None = None,
    ) -> None:
        self.constraint_name = constraint_name
        self.source_table = source_table
        self.referent_table = referent_table
        self.local_cols = list(local_cols)
        self.remote_cols = list(remote_cols)
        self.ondelete = ondelete
        self.schema = schema
        self.referent_schema = referent_schema

    @classmethod
    def add_foreign_key_not_valid(  # noqa: PLR0917 - Alembic's create_foreign_key order
        cls,
        operations: Operations,
        constraint_name: str,
        source_table: str,
        referent_table: str,
        local_cols: Sequence[str],
        remote_cols: Sequence[str],
        *,
        ondelete: str | None = None,
        schema: str | None = None,
        referent_schema: str | None = None,
    ) -> None:
        """Foreign key NOT VALID, validated on its own; see
        ``migrationkit.ops.add_foreign_key_not_valid``."""
        operations.invoke(
            cls(
                constraint_name,
                source_table,
                referent_table,
                local_cols,
                remote_cols,
                ondelete=ondelete,
                schema=schema,
                referent_schema=referent_schema,
            )
        )


@safe_operation("validate_constraint")
@Operations.register_operation("validate_constraint")
class ValidateConstraintOp(MigrateOperation):
    """``op.validate_constraint(...)``: a registered operation."""

    def __init__(
        self, constraint_name: str, table_name: str, *, schema: str | None = None
    ) -> None:
        self.constraint_name = constraint_name
        self.table_name = table_name
        self.schema = schema

    @classmethod
    def validate_constraint(
        cls,
        operations: Operations,
        constraint_name: str,
        table_name: str,
        *,
        schema: str | None = None,
    ) -> None:
        """VALIDATE CONSTRAINT in a transaction of its own; see
        ``migrationkit.ops.validate_constraint``."""
        operations.invoke(cls(constraint_name, table_name, schema=schema))


def add_unique_constraint_using_index(
    constraint_name: str,
    table_name: str,
    columns: Sequence[str],
    *,
    schema: str | None = None,
) -> None:
    """Add a UNIQUE constraint backed by an index built concurrently.

    Locks taken: SHARE UPDATE EXCLUSIVE during the concurrent unique index build
    (writes go on), then ACCESS EXCLUSIVE for ``ADD CONSTRAINT ... UNIQUE USING
    INDEX``, which only records the constraint (no scan, milliseconds). Lock
    avoided: ``ADD CONSTRAINT ... UNIQUE`` builds its index under ACCESS
    EXCLUSIVE, blocking reads and writes for the whole build.

    The index and the constraint share ``constraint_name``. Idempotent: an
    existing constraint of that name on the table ends the work, and a valid
    index left by a run cut short after the build is attached as it is.
    """
    op.invoke(
        AddUniqueConstraintUsingIndexOp(
            constraint_name, table_name, columns, schema=schema
        )
    )


def add_foreign_key_not_valid(
    constraint_name: str,
    source_table: str,
    referent_table: str,
    local_cols: Sequence[str],
    remote_cols: Sequence[str],
    *,
    ondelete: str | None = None,
    schema: str | None = None,
    referent_schema: str | None = None,
) -> None:
    """Add a foreign key ``NOT VALID``, then validate it in a separate transaction.

    Locks taken: SHARE ROW EXCLUSIVE on both tables for the catalog-only ``ADD
    CONSTRAINT ... NOT VALID`` (milliseconds; new rows are checked from then on),
    then for ``VALIDATE CONSTRAINT`` SHARE UPDATE EXCLUSIVE on the source table
    and ROW SHARE on the referenced one, under which reads and writes go on while
    existing rows are checked. Lock avoided: a plain ``ADD FOREIGN KEY`` holds
    SHARE ROW EXCLUSIVE (no writes to either table) during the whole check.

    ``schema`` is the source table's schema, ``referent_schema`` the referenced
    table's (None: the search path). Idempotent: an existing constraint of that
    name is only validated, and a validated one is left alone.
    """
    op.invoke(
        AddForeignKeyNotValidOp(
            constraint_name,
            source_table,
            referent_table,
            local_cols,
            remote_cols,
            ondelete=ondelete,
            schema=schema,
            referent_schema=referent_schema,
        )
    )


def validate_constraint(
    constraint_name: str, table_name: str, *, schema: str | None = None
) -> None:
    """``ALTER TABLE ... VALIDATE CONSTRAINT`` in a transaction of its own.

    Lock taken: SHARE UPDATE EXCLUSIVE on the table (plus ROW SHARE on the
    referenced table of a foreign key): reads and writes go on during the scan.
    Lock avoided: the ACCESS EXCLUSIVE / SHARE ROW EXCLUSIVE a constraint added
    without ``NOT VALID`` holds while it checks every row. Runs in Alembic's
    ``autocommit_block``, so the lock is released as soon as the check ends.
    """
    op.invoke(ValidateConstraintOp(constraint_name, table_name, schema=schema))


@Operations.implementation_for(AddUniqueConstraintUsingIndexOp)
def _add_unique_constraint_using_index(
    operations: Operations, operation: AddUniqueConstraintUsingIndexOp
) -> None:
    name, table = operation.constraint_name, operation.table_name
    if online(operations) and constraint_state(
        operations, name, table_name=table, schema=operation.schema
    ):
        log.info("constraint %s on %s exists", name, table)
        return
    operations.invoke(
        CreateIndexConcurrentlyOp(
            name, table, operation.columns, unique=True, schema=operation.schema
        )
    )
    # USING INDEX takes a bare name: the index lives in the table's schema.
    quoted = quote_identifier(name)
    operations.execute(
        f"ALTER TABLE {table_sql(table, schema=operation.schema)} "
        f"ADD CONSTRAINT {quoted} UNIQUE USING INDEX {quoted}"
    )


@Operations.implementation_for(AddForeignKeyNotValidOp)
def _add_foreign_key_not_valid(
    operations: Operations, operation: AddForeignKeyNotValidOp
) -> None:
    state = (
        constraint_state(
            operations,
            operation.constraint_name,
            table_name=operation.source_table,
            schema=operation.schema,
        )
        if online(operations)
        else None
    )
    if state is None:
        operations.create_foreign_key(
            operation.constraint_name,
            operation.source_table,
            operation.referent_table,
            operation.local_cols,
            operation.remote_cols,
            ondelete=operation.ondelete,
            source_schema=operation.schema,
            referent_schema=operation.referent_schema,
            postgresql_not_valid=True,
        )
    elif state.validated:
        log.info(
            "foreign key %s on %s exists",
            operation.constraint_name,
            operation.source_table,
        )
        return
    operations.invoke(
        ValidateConstraintOp(
            operation.constraint_name, operation.source_table, schema=operation.schema
        )
    )


@Operations.implementation_for(ValidateConstraintOp)
def _validate_constraint(
    operations: Operations, operation: ValidateConstraintOp
) -> None:
    with operations.get_context().autocommit_block():
        try:
            validate(
                operations,
                operation.constraint_name,
                table_name=operation.table_name,
                schema=operation.schema,
            )
        except DBAPIError as exc:
            if sqlstate_of(exc) not in {CHECK_VIOLATION, FOREIGN_KEY_VIOLATION}:
                raise
            raise MigrationKitError(
                f"Constraint {operation.constraint_name!r} on "
                f"{operation.table_name!r} cannot be validated: existing rows break "
                f"it ({server_message(exc)}). It stays NOT VALID (new rows are "
                "still checked). Fix or remove those rows, then run the migration "
                "again."
            ) from exc


def validate(
    operations: Operations, constraint_name: str, *, table_name: str, schema: str | None
) -> None:
    """The bare ``VALIDATE CONSTRAINT`` statement (the caller picks the transaction)."""
    operations.execute(
        f"ALTER TABLE {table_sql(table_name, schema=schema)} "
        f"VALIDATE CONSTRAINT {quote_identifier(constraint_name)}"
    )
