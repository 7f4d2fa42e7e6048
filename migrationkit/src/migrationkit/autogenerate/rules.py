"""The rewrite rules: each naive operation autogenerate writes, and its safe form.

"Existing table" means a table the database autogenerate compared against holds;
a table created by the same revision is empty, so nothing waits on its locks and
its operations stay as Alembic wrote them. Each rewritten operation is written
with a one-line comment saying what it avoids.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from alembic.autogenerate import Rewriter
from alembic.operations import MigrateOperation, ops
from alembic.runtime.migration import MigrationContext

from migrationkit.autogenerate.names import (
    FOREIGN_KEY,
    UNIQUE,
    postgres_constraint_name,
)
from migrationkit.autogenerate.render import CommentBlock, Commented
from migrationkit.ops.columns import AddNotNullOp
from migrationkit.ops.constraints import (
    AddForeignKeyNotValidOp,
    AddUniqueConstraintUsingIndexOp,
)
from migrationkit.ops.indexes import CreateIndexConcurrentlyOp, DropIndexConcurrentlyOp
from migrationkit.pg import qualified_name

FAST_DEFAULT_SINCE = 11
"""PostgreSQL 11 stores a non-volatile default in the catalog: no table rewrite."""

_FUNCTION_CALL = re.compile(r"([A-Za-z_][A-Za-z0-9_$]*)\s*\(")
_GROWABLE_TEXT = {"varchar", "character varying"}
_UNBOUNDED_TEXT = {"text", "varchar", "character varying"}


@dataclass(frozen=True, kw_only=True)
class TypeChange:
    """A column type change autogenerate found, which would rewrite the table."""

    table: str
    column: str
    old: str
    new: str


@dataclass(kw_only=True)
class Comparison:
    """What one autogenerate run learns from the database it compared against."""

    connection: sa.Connection
    enum_types_created: set[str] = field(default_factory=set)
    enum_types_dropped: set[str] = field(default_factory=set)
    foreign_keys_moved: list[MigrateOperation] = field(default_factory=list)
    types_dropped_last: list[MigrateOperation] = field(default_factory=list)
    """Enum types a new table created: its downgrade drops them after all tables."""

    def table_exists(self, name: str, *, schema: str | None) -> bool:
        return sa.inspect(self.connection).has_table(name, schema=schema)

    def enum_type_exists(self, name: str, *, schema: str | None) -> bool:
        found = self.connection.scalar(
            sa.text("SELECT to_regtype(:name) IS NOT NULL"),
            {"name": qualified_name(name, schema=schema)},
        )
        return bool(found)

    def constraint_name(
        self, *, table: str, columns: list[str], suffix: str, schema: str | None
    ) -> str | None:
        """The name PostgreSQL gives the unnamed constraint (see ``names``)."""
        return postgres_constraint_name(
            self.connection, table=table, columns=columns, suffix=suffix, schema=schema
        )

    def server_major(self) -> int:
        info = self.connection.dialect.server_version_info or (0,)
        return int(info[0])

    def sql(self, element: Any) -> str:
        return str(
            element.compile(
                dialect=self.connection.dialect,
                compile_kwargs={"literal_binds": True},
            )
        )

    def type_sql(self, type_: Any) -> str:
        return str(sa.types.to_instance(type_).compile(dialect=self.connection.dialect))

    def volatile(self, default_sql: str) -> bool:
        """Whether a default calls a volatile (or unknown) function.

        PostgreSQL 11+ skips the rewrite only for a non-volatile default; the
        functions it calls are looked up in ``pg_proc``, and a name not found
        there counts as volatile, so a doubt is never written as safe.
        """
        names = sorted({name.lower() for name in _FUNCTION_CALL.findall(default_sql)})
        if not names:
            return False
        rows = self.connection.execute(
            sa.text(
                "SELECT proname, bool_or(provolatile = 'v') AS volatile "
                "FROM pg_proc WHERE proname = ANY(:names) GROUP BY proname"
            ),
            {"names": names},
        ).all()
        known = {row.proname: row.volatile for row in rows}
        return any(known.get(name, True) for name in names)


def rewrites_table(old: str, new: str) -> bool:
    """Whether ``ALTER COLUMN ... TYPE`` from ``old`` to ``new`` rewrites the table.

    Only the binary-compatible changes PostgreSQL applies to the catalog alone
    are answered False: a longer or unbounded ``varchar``, ``varchar`` and
    ``text`` into each other, a ``numeric`` with more precision and the same
    scale. Anything else is taken as a rewrite (and an index rebuild).
    """
    # Imported here: migrationkit.lint imports the runtime that imports this.
    from migrationkit.lint.column_types import (  # noqa: PLC0415
        normalize_type,
        parse_type,
    )

    if normalize_type(old) == normalize_type(new):
        return False
    source, target = parse_type(old), parse_type(new)
    if source.base in _UNBOUNDED_TEXT and target.base in _UNBOUNDED_TEXT:
        if not target.params:
            return False
        return not (
            source.base in _GROWABLE_TEXT
            and source.params
            and target.params[0] >= source.params[0]
        )
    if source.base in {"numeric", "decimal"} and target.base == source.base:
        if not target.params:
            return False
        if len(source.params) == len(target.params) and source.params:
            same_scale = source.params[1:] == target.params[1:]
            return not (same_scale and target.params[0] >= source.params[0])
    return True


def build_rewriter(seen: Comparison) -> Rewriter:
    """A ``Rewriter`` holding every rule, bound to one autogenerate run."""
    rewriter = Rewriter()

    @rewriter.rewrites(ops.CreateIndexOp)
    def create_index(
        _context: MigrationContext, _revision: Any, op: ops.CreateIndexOp
    ) -> MigrateOperation | list[MigrateOperation]:
        if not seen.table_exists(op.table_name, schema=op.schema):
            return op
        columns = [
            column if isinstance(column, str) else getattr(column, "name", None)
            for column in op.columns
        ]
        extra = {key: value for key, value in op.kw.items() if value is not None}
        where = extra.pop("postgresql_where", None)
        if extra or not all(isinstance(column, str) for column in columns):
            return op  # an expression index or options the safe form lacks
        return Commented(
            CreateIndexConcurrentlyOp(
                str(op.index_name),
                op.table_name,
                [str(column) for column in columns],
                unique=bool(op.unique),
                where=seen.sql(where) if where is not None else None,
                schema=op.schema,
            ),
            comment="CONCURRENTLY: a plain CREATE INDEX blocks every write for the "
            "whole build",
        )

    @rewriter.rewrites(ops.DropIndexOp)
    def drop_index(
        _context: MigrationContext, _revision: Any, op: ops.DropIndexOp
    ) -> MigrateOperation:
        if op.table_name is None or not seen.table_exists(
            op.table_name, schema=op.schema
        ):
            return op
        return Commented(
            DropIndexConcurrentlyOp(
                str(op.index_name), table_name=op.table_name, schema=op.schema
            ),
            comment="CONCURRENTLY: a plain DROP INDEX queues for ACCESS EXCLUSIVE, "
            "stopping even reads",
        )

    @rewriter.rewrites(ops.CreateUniqueConstraintOp)
    def add_unique(
        _context: MigrationContext,
        _revision: Any,
        op: ops.CreateUniqueConstraintOp,
    ) -> MigrateOperation:
        if any(value for value in op.kw.values()) or not seen.table_exists(
            op.table_name, schema=op.schema
        ):
            return op
        name = _unique_name(seen, op)
        if name is None:
            return op
        return Commented(
            AddUniqueConstraintUsingIndexOp(
                str(name),
                op.table_name,
                [str(column) for column in op.columns],
                schema=op.schema,
            ),
            comment="index built CONCURRENTLY, then attached: ADD CONSTRAINT UNIQUE "
            "builds it under ACCESS EXCLUSIVE",
        )

    @rewriter.rewrites(ops.CreateForeignKeyOp)
    def add_foreign_key(
        _context: MigrationContext, _revision: Any, op: ops.CreateForeignKeyOp
    ) -> MigrateOperation:
        schema = op.kw.get("source_schema")
        unsupported = ("onupdate", "deferrable", "initially", "match")
        if any(op.kw.get(key) for key in unsupported) or not seen.table_exists(
            op.source_table, schema=schema
        ):
            return op
        name = _foreign_key_name(seen, op)
        if name is None:
            return op
        return _foreign_key_not_valid(
            name=str(name),
            source=op.source_table,
            referent=op.referent_table,
            local=[str(column) for column in op.local_cols],
            remote=[str(column) for column in op.remote_cols],
            ondelete=op.kw.get("ondelete"),
            schema=schema,
            referent_schema=op.kw.get("referent_schema"),
        )

    @rewriter.rewrites(ops.DropConstraintOp)
    def drop_constraint(
        _context: MigrationContext, _revision: Any, op: ops.DropConstraintOp
    ) -> MigrateOperation:
        """The downgrade of a constraint named above drops it by that name."""
        if op.constraint_name is None:
            op.constraint_name = _unnamed_constraint_name(seen, op._reverse)
        return op

    _table_and_column_rules(rewriter, seen)
    return rewriter


def _table_and_column_rules(rewriter: Rewriter, seen: Comparison) -> None:
    """The rules for tables and their columns, added to ``rewriter``."""

    @rewriter.rewrites(ops.CreateTableOp)
    def create_table(
        _context: MigrationContext, _revision: Any, op: ops.CreateTableOp
    ) -> MigrateOperation:
        kept: list[Any] = []
        for item in op.columns:
            moved = _moved_foreign_key(
                seen, item, table=op.table_name, schema=op.schema
            )
            if moved is None:
                kept.append(item)
            else:
                seen.foreign_keys_moved.append(moved)
        op.columns = kept
        return op

    @rewriter.rewrites(ops.DropTableOp)
    def drop_table(
        _context: MigrationContext, _revision: Any, op: ops.DropTableOp
    ) -> MigrateOperation:
        """The downgrade of a new table drops the enum types its CREATE TABLE made.

        ``op.drop_table`` leaves them (Alembic's ``create_table`` creates a
        native enum type, its ``drop_table`` never drops one), so the next
        upgrade would fail on "type already exists". A type the database already
        holds is not the table's to drop.
        """
        seen.types_dropped_last += _enum_types_made_by(seen, op)
        return op

    @rewriter.rewrites(ops.AlterColumnOp)
    def alter_column(
        _context: MigrationContext, _revision: Any, op: ops.AlterColumnOp
    ) -> MigrateOperation | list[MigrateOperation]:
        if _same_enum(op.existing_type, op.modify_type):
            op.modify_type = None  # new values: added by add_enum_value, not here
        if op.modify_nullable is not False:
            return op if op.has_changes() else []
        op.modify_nullable = None
        op.kw.pop("existing_nullable", None)
        safe = Commented(
            AddNotNullOp(op.table_name, op.column_name, schema=op.schema),
            comment="CHECK NOT VALID, validated, then SET NOT NULL: no scan under "
            "ACCESS EXCLUSIVE",
        )
        return [op, safe] if op.has_changes() else [safe]

    @rewriter.rewrites(ops.AddColumnOp)
    def add_column(
        _context: MigrationContext, _revision: Any, op: ops.AddColumnOp
    ) -> MigrateOperation | list[MigrateOperation]:
        if not seen.table_exists(op.table_name, schema=op.schema):
            return op
        result: list[MigrateOperation] = []
        enum = _new_enum_type(
            seen, op.column.type, schema=op.schema, once=seen.enum_types_created
        )
        if enum is not None:
            values = ", ".join(_literal(value) for value in enum.enums)
            name = qualified_name(str(enum.name), schema=enum.schema or op.schema)
            result.append(
                Commented(
                    ops.ExecuteSQLOp(f"CREATE TYPE {name} AS ENUM ({values})"),
                    comment="the enum type first: ADD COLUMN does not create it",
                )
            )
        result.extend(_added_column(seen, op))
        return result

    @rewriter.rewrites(ops.DropColumnOp)
    def drop_column(
        _context: MigrationContext, _revision: Any, op: ops.DropColumnOp
    ) -> MigrateOperation | list[MigrateOperation]:
        if op._reverse is None or not seen.table_exists(
            op.table_name, schema=op.schema
        ):
            return op
        enum = _new_enum_type(
            seen,
            op._reverse.column.type,
            schema=op.schema,
            once=seen.enum_types_dropped,
        )
        if enum is None:
            return op
        name = qualified_name(str(enum.name), schema=enum.schema or op.schema)
        return [op, ops.ExecuteSQLOp(f"DROP TYPE IF EXISTS {name}")]


def _unnamed_constraint_name(seen: Comparison, added: Any) -> str | None:
    """The name the upgrade gave the unnamed constraint ``added`` re-creates."""
    if isinstance(added, ops.CreateUniqueConstraintOp) and not any(added.kw.values()):
        return _unique_name(seen, added)
    if isinstance(added, ops.CreateForeignKeyOp):
        return _foreign_key_name(seen, added)
    return None


def _unique_name(seen: Comparison, op: ops.CreateUniqueConstraintOp) -> str | None:
    return (
        str(op.constraint_name)
        if op.constraint_name is not None
        else seen.constraint_name(
            table=op.table_name,
            columns=[str(column) for column in op.columns],
            suffix=UNIQUE,
            schema=op.schema,
        )
    )


def _foreign_key_name(seen: Comparison, op: ops.CreateForeignKeyOp) -> str | None:
    return (
        str(op.constraint_name)
        if op.constraint_name is not None
        else seen.constraint_name(
            table=op.source_table,
            columns=[str(column) for column in op.local_cols],
            suffix=FOREIGN_KEY,
            schema=op.kw.get("source_schema"),
        )
    )


def _enum_types_made_by(
    seen: Comparison, op: ops.DropTableOp
) -> list[MigrateOperation]:
    """``DROP TYPE`` for each enum type the table's CREATE TABLE creates here."""
    reverse = op._reverse
    columns = reverse.columns if reverse is not None else []
    dropped: list[MigrateOperation] = []
    for column in columns:
        enum = _new_enum_type(
            seen,
            getattr(column, "type", None),
            schema=op.schema,
            once=seen.enum_types_dropped,
        )
        if enum is not None:
            name = qualified_name(str(enum.name), schema=enum.schema or op.schema)
            dropped.append(ops.ExecuteSQLOp(f"DROP TYPE IF EXISTS {name}"))
    return dropped


def _foreign_key_not_valid(
    *,
    name: str,
    source: str,
    referent: str,
    local: list[str],
    remote: list[str],
    ondelete: str | None,
    schema: str | None,
    referent_schema: str | None,
) -> MigrateOperation:
    return Commented(
        AddForeignKeyNotValidOp(
            name,
            source,
            referent,
            local,
            remote,
            ondelete=ondelete,
            schema=schema,
            referent_schema=referent_schema,
        ),
        comment="NOT VALID, then validated on its own: a plain ADD FOREIGN KEY "
        "blocks writes to both tables while it checks",
    )


def _moved_foreign_key(
    seen: Comparison, item: Any, *, table: str, schema: str | None
) -> MigrateOperation | None:
    """The safe form of a new table's foreign key to an existing table, or None.

    ``CREATE TABLE ... REFERENCES users`` holds SHARE ROW EXCLUSIVE on ``users``
    (no writes) until the revision commits (lint's MK109); added after the table,
    NOT VALID and validated on its own, it holds it for milliseconds.
    """
    if not isinstance(item, sa.ForeignKeyConstraint) or not item.elements:
        return None
    if item.onupdate or item.deferrable:
        return None
    referred = item.elements[0].column.table
    if not seen.table_exists(referred.name, schema=referred.schema):
        return None
    local = [element.parent.name for element in item.elements]
    name = item.name if isinstance(item.name, str) else None
    name = name or seen.constraint_name(
        table=table, columns=local, suffix=FOREIGN_KEY, schema=schema
    )
    if name is None:
        return None
    return _foreign_key_not_valid(
        name=name,
        source=table,
        referent=referred.name,
        local=local,
        remote=[element.column.name for element in item.elements],
        ondelete=item.ondelete,
        schema=schema,
        referent_schema=referred.schema,
    )


def refused_type_changes(seen: Comparison, upgrade: ops.UpgradeOps) -> list[TypeChange]:
    """The upgrade's column type changes that would rewrite their table.

    Only the upgrade is judged: the downgrade of a safe widening is a narrowing,
    and refusing the widening for it would help no one. A change PostgreSQL makes
    in the catalog alone is kept, with a lint suppression saying why (squawk flags
    every type change).
    """
    refused: list[TypeChange] = []
    for table_ops in upgrade.ops:
        if not isinstance(table_ops, ops.ModifyTableOps):
            continue
        for index, op in enumerate(table_ops.ops):
            if not isinstance(op, ops.AlterColumnOp) or op.modify_type is None:
                continue
            old_type, new_type = op.existing_type, op.modify_type
            if _same_enum(old_type, new_type):
                continue
            old = seen.type_sql(old_type) if old_type is not None else "unknown"
            new = seen.type_sql(new_type)
            if old_type is None or rewrites_table(old, new):
                refused.append(
                    TypeChange(
                        table=op.table_name, column=op.column_name, old=old, new=new
                    )
                )
            else:
                table_ops.ops[index] = Commented(
                    op,
                    comment="migrationkit-lint: allow changing-column-type "
                    f"prefer-text-field -- {old} -> {new} is binary compatible: "
                    "a catalog change, no rewrite",
                )
    return refused


def _same_enum(old: Any, new: Any) -> bool:
    return (
        isinstance(old, sa.Enum)
        and isinstance(new, sa.Enum)
        and old.name is not None
        and old.name == new.name
    )


def _new_enum_type(
    seen: Comparison, type_: Any, *, schema: str | None, once: set[str]
) -> sa.Enum | None:
    """A native enum type the column needs and the database lacks (once per run)."""
    if not isinstance(type_, sa.Enum) or not type_.native_enum or not type_.name:
        return None
    where = type_.schema or schema
    key = qualified_name(str(type_.name), schema=where)
    if key in once or seen.enum_type_exists(str(type_.name), schema=where):
        return None
    once.add(key)
    return type_


def _added_column(seen: Comparison, op: ops.AddColumnOp) -> list[MigrateOperation]:
    column = op.column
    if column.nullable is not False or column.primary_key:
        return [op]
    default = column.server_default
    if isinstance(default, sa.DefaultClause):
        arg = default.arg
        text = _literal(arg) if isinstance(arg, str) else seen.sql(arg)
        if seen.server_major() >= FAST_DEFAULT_SINCE and (
            isinstance(arg, str) or not seen.volatile(text)
        ):
            return [
                Commented(
                    op,
                    comment=f"DEFAULT {text} is not volatile: PostgreSQL "
                    f"{FAST_DEFAULT_SINCE}+ stores it in the catalog, no rewrite",
                )
            ]
    return _not_null_skeleton(op, has_default=default is not None)


def _not_null_skeleton(
    op: ops.AddColumnOp, *, has_default: bool
) -> list[MigrateOperation]:
    """The naive op kept (lint fails on it) under the plan that replaces it."""
    table, name = op.table_name, op.column.name
    why = (
        "its default is volatile (or this server rewrites for any default)"
        if has_default
        else "it has no default, so it fails on a table that has rows"
    )
    lines = [
        f"TODO(migrationkit): {table}.{name} is added NOT NULL and {why}.",
        "Replace the op.add_column below with expand/backfill/contract:",
        f"  1. this revision: add {name} as nullable=True, and deploy an",
        "     application that writes it for every new row;",
        "  2. a later revision: fill old rows with",
        (
            f"     op.backfill_in_batches(table={table!r}, "
            f'set_sql="{name} = <value>", pending_sql="{name} IS NULL");'
        ),
        f"  3. then: op.add_not_null({table!r}, {name!r}).",
        "(Or, when no application writes the table meanwhile, all three at once:",
        f"  op.add_not_null_column({table!r}, sa.Column(...), backfill_sql=...).)",
        "migrationkit lint fails on the op.add_column below until it is replaced.",
    ]
    return [CommentBlock(lines), op]


def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"
