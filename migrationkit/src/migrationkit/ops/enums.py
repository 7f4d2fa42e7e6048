"""Enum values added with ``ALTER TYPE ... ADD VALUE`` outside a transaction.

PostgreSQL before 12 refuses ``ADD VALUE`` in a transaction block, and on 12 and
newer a value added in a transaction cannot be used until that transaction
commits: a later statement of the same revision (a default, a backfill) would
fail. So the value is added in Alembic's ``autocommit_block``, committed at once.
The statement takes a brief lock on the type only; tables using it are not
rewritten or scanned.
"""

from __future__ import annotations

from alembic import op
from alembic.operations import MigrateOperation, Operations

from migrationkit.pg import qualified_name


@Operations.register_operation("add_enum_value")
class AddEnumValueOp(MigrateOperation):
    """``op.add_enum_value(...)``: a registered Alembic operation."""

    def __init__(
        self,
        type_name: str,
        value: str,
        *,
        before: str | None = None,
        after: str | None = None,
        schema: str | None = None,
    ) -> None:
        self.type_name = type_name
        self.value = value
        self.before = before
        self.after = after
        self.schema = schema

    @classmethod
    def add_enum_value(
        cls,
        operations: Operations,
        type_name: str,
        value: str,
        *,
        before: str | None = None,
        after: str | None = None,
        schema: str | None = None,
    ) -> None:
        """ADD VALUE committed on its own; see ``migrationkit.ops.add_enum_value``."""
        operations.invoke(
            cls(type_name, value, before=before, after=after, schema=schema)
        )


def add_enum_value(
    type_name: str,
    value: str,
    *,
    before: str | None = None,
    after: str | None = None,
    schema: str | None = None,
) -> None:
    """Add ``value`` to the enum type ``type_name``, in a transaction of its own.

    ``before``/``after`` place it among the existing values (default: last).
    Runs ``ALTER TYPE ... ADD VALUE IF NOT EXISTS`` in Alembic's
    ``autocommit_block``, so a rerun is a no-op and the value is usable by the
    statements after it. Lock avoided: none on any table; what it avoids is the
    failure of ``ADD VALUE`` in a transaction block (PostgreSQL 11 and older) and
    of using the value before its transaction commits (12 and newer).
    """
    op.invoke(
        AddEnumValueOp(type_name, value, before=before, after=after, schema=schema)
    )


def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


@Operations.implementation_for(AddEnumValueOp)
def _add_enum_value(operations: Operations, operation: AddEnumValueOp) -> None:
    place = ""
    if operation.before is not None:
        place = f" BEFORE {_literal(operation.before)}"
    elif operation.after is not None:
        place = f" AFTER {_literal(operation.after)}"
    with operations.get_context().autocommit_block():
        operations.execute(
            f"ALTER TYPE {qualified_name(operation.type_name, schema=operation.schema)}"
            f" ADD VALUE IF NOT EXISTS {_literal(operation.value)}{place}"
        )
