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


@Operations.register_operation("remove_enum_value")
class RemoveEnumValueOp(MigrateOperation):
    """``op.remove_enum_value(...)``: the downgrade of ``op.add_enum_value``."""

    def __init__(self, type_name: str, value: str, *, schema: str | None = None):
        self.type_name = type_name
        self.value = value
        self.schema = schema

    @classmethod
    def remove_enum_value(
        cls,
        operations: Operations,
        type_name: str,
        value: str,
        *,
        schema: str | None = None,
    ) -> None:
        """The type rebuilt without ``value``; see ``remove_enum_value``."""
        operations.invoke(cls(type_name, value, schema=schema))


def remove_enum_value(type_name: str, value: str, *, schema: str | None = None) -> None:
    """Take ``value`` out of an enum type again: what a downgrade of ADD VALUE needs.

    PostgreSQL has no ``ALTER TYPE ... DROP VALUE``, so the type is rebuilt: the
    old one renamed, a new one created with the remaining values in their order,
    every column of it converted (``ALTER COLUMN ... TYPE``, its default set
    again), the old type dropped. That rewrites each table using the type under
    ACCESS EXCLUSIVE: a price paid on a downgrade only, never on an upgrade. It
    refuses, changing nothing, while any row still holds ``value`` (update those
    rows first), and does nothing when the type lacks ``value`` (a rerun).
    """
    op.invoke(RemoveEnumValueOp(type_name, value, schema=schema))


_REMOVE_VALUE = """\
DO $remove_enum_value$
DECLARE
    old_type oid := to_regtype({qualified});
    tables text[] := '{{}}';
    columns text[] := '{{}}';
    defaults text[] := '{{}}';
    used boolean;
    kept text;
BEGIN
    IF old_type IS NULL OR NOT EXISTS (SELECT 1 FROM pg_enum
        WHERE enumtypid = old_type AND enumlabel = {value}) THEN
        RETURN;
    END IF;
    SELECT array_agg(a.attrelid::regclass::text ORDER BY a.attrelid, a.attnum),
           array_agg(quote_ident(a.attname) ORDER BY a.attrelid, a.attnum),
           array_agg(coalesce(pg_get_expr(d.adbin, d.adrelid), '')
                     ORDER BY a.attrelid, a.attnum)
      INTO tables, columns, defaults
      FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
      LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
     WHERE a.atttypid = old_type AND a.attnum > 0 AND NOT a.attisdropped
       AND c.relkind IN ('r', 'p');
    FOR i IN 1 .. coalesce(array_length(tables, 1), 0) LOOP
        EXECUTE format('SELECT EXISTS (SELECT 1 FROM %s WHERE %s = %L)',
                       tables[i], columns[i], {value}) INTO used;
        IF used THEN
            RAISE EXCEPTION 'cannot remove % from %: rows of %.% still hold it',
                {value}, {qualified}, tables[i], columns[i]
                USING HINT = 'update those rows to another value first';
        END IF;
    END LOOP;
    SELECT string_agg(quote_literal(enumlabel), ', ' ORDER BY enumsortorder)
      INTO kept FROM pg_enum WHERE enumtypid = old_type AND enumlabel <> {value};
    EXECUTE format('ALTER TYPE %s RENAME TO %I', {qualified}, {renamed});
    EXECUTE format('CREATE TYPE %s AS ENUM (%s)', {qualified}, kept);
    FOR i IN 1 .. coalesce(array_length(tables, 1), 0) LOOP
        IF defaults[i] <> '' THEN
            EXECUTE format('ALTER TABLE %s ALTER COLUMN %s DROP DEFAULT',
                           tables[i], columns[i]);
        END IF;
        EXECUTE format('ALTER TABLE %s ALTER COLUMN %s TYPE %s USING %s::text::%s',
                       tables[i], columns[i], {qualified}, columns[i], {qualified});
        IF defaults[i] <> '' THEN
            EXECUTE format('ALTER TABLE %s ALTER COLUMN %s SET DEFAULT %s',
                           tables[i], columns[i], defaults[i]);
        END IF;
    END LOOP;
    EXECUTE format('DROP TYPE %s', (SELECT format('%I.%I', n.nspname, {renamed})
        FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
        WHERE t.oid = old_type));
END
$remove_enum_value$"""


@Operations.implementation_for(RemoveEnumValueOp)
def _remove_enum_value(operations: Operations, operation: RemoveEnumValueOp) -> None:
    qualified = qualified_name(operation.type_name, schema=operation.schema)
    operations.execute(
        _REMOVE_VALUE.format(
            qualified=_literal(qualified),
            value=_literal(operation.value),
            renamed=_literal(f"{operation.type_name}__before_{operation.value}"[:63]),
        )
    )
