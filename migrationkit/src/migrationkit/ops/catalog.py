"""What the database already holds: the checks that make every operation rerunnable.

Several safe operations commit part of their work before they end (a concurrent
index build cannot run in a transaction; a validation runs in one of its own), so
a run cut short leaves that part behind. Each operation therefore asks the
catalog first and carries on from what it finds.

The lookups resolve names the way the DDL they guard does: a table as
``to_regclass('"schema"."table"')`` when a schema is given (the search path when
not), and an index or constraint inside its table's own namespace, so an object
of the same name in another schema on the search path is never taken for it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from alembic import op
from alembic.operations import Operations

from migrationkit.errors import MigrationKitError
from migrationkit.pg import qualified_name, quote_identifier


@dataclass(frozen=True)
class IndexState:
    """An existing index: where, on which table, and whether it is usable yet."""

    schema: str
    table_name: str
    valid: bool
    """``pg_index.indisvalid``: the planner may use it (the build finished)."""
    ready: bool
    """``pg_index.indisready``: writes maintain it; a unique one enforces."""
    unique: bool


@dataclass(frozen=True)
class ConstraintState:
    kind: str
    validated: bool


def online(operations: Operations) -> bool:
    """False in ``--sql`` mode, where there is no database to ask."""
    return not operations.get_context().as_sql


def table_sql(table_name: str, *, schema: str | None) -> str:
    """The table as DDL names it: ``"schema".table``, or bare for the search path."""
    return qualified_name(table_name, schema=schema)


def _row(operations: Operations, sql: str, **params: Any) -> sa.Row[Any] | None:
    return operations.get_bind().execute(sa.text(sql), params).first()


def index_state(
    operations: Operations,
    index_name: str,
    *,
    table_name: str | None,
    schema: str | None,
) -> IndexState | None:
    """The index ``index_name`` in the namespace it would be created in.

    That is the table's namespace when a table is named, else ``schema``, else
    the search path (for a bare ``drop_index_concurrently``).
    """
    if table_name is not None:
        namespace = (
            "(SELECT relnamespace FROM pg_class WHERE oid = to_regclass(:table))"
        )
    elif schema is not None:
        namespace = "to_regnamespace(:schema)"
    else:
        namespace = (
            "(SELECT relnamespace FROM pg_class WHERE oid = to_regclass(:index))"
        )
    row = _row(
        operations,
        "SELECT n.nspname::text AS schema,"
        "       t.relname AS table_name, i.indisvalid AS valid,"
        "       i.indisready AS ready, i.indisunique AS is_unique"
        "  FROM pg_class ic"
        "  JOIN pg_index i ON i.indexrelid = ic.oid"
        "  JOIN pg_class t ON t.oid = i.indrelid"
        "  JOIN pg_namespace n ON n.oid = ic.relnamespace"
        f" WHERE ic.relname = :name AND ic.relnamespace = {namespace}",
        name=index_name,
        table=table_sql(table_name, schema=schema) if table_name else None,
        schema=quote_identifier(schema) if schema else None,
        index=quote_identifier(index_name),
    )
    if row is None:
        return None
    return IndexState(
        schema=row.schema,
        table_name=row.table_name,
        valid=row.valid,
        ready=row.ready,
        unique=row.is_unique,
    )


def constraint_state(
    operations: Operations, constraint_name: str, *, table_name: str, schema: str | None
) -> ConstraintState | None:
    row = _row(
        operations,
        "SELECT contype, convalidated FROM pg_constraint"
        " WHERE conname = :name AND conrelid = to_regclass(:table)",
        name=constraint_name,
        table=table_sql(table_name, schema=schema),
    )
    return None if row is None else ConstraintState(row.contype, row.convalidated)


def column_not_null(
    operations: Operations, table_name: str, column_name: str, *, schema: str | None
) -> bool | None:
    """True/False for NOT NULL or nullable, None when there is no such column."""
    row = _row(
        operations,
        "SELECT attnotnull FROM pg_attribute"
        " WHERE attrelid = to_regclass(:table) AND attname = :column"
        "   AND attnum > 0 AND NOT attisdropped",
        table=table_sql(table_name, schema=schema),
        column=column_name,
    )
    return None if row is None else bool(row.attnotnull)


def count_nulls(
    operations: Operations, table_name: str, column_name: str, *, schema: str | None
) -> str:
    """How many rows hold NULL in the column, for a message ("more than 1000")."""
    table = table_sql(table_name, schema=schema)
    column = quote_identifier(column_name)
    row = _row(
        operations,
        f"SELECT count(*) AS n FROM (SELECT 1 FROM {table}"
        f" WHERE {column} IS NULL LIMIT 1001) AS nulls",
    )
    count = 0 if row is None else int(row.n)
    return "more than 1000" if count > 1000 else str(count)


def require_server_version(major: int, *, feature: str) -> None:
    """Refuse, before any change, a server too old for what the revision uses.

    Takes no lock. Without it the revision would fail half-way with PostgreSQL's
    own "function does not exist"; in ``--sql`` mode there is no server to ask,
    so the check is skipped.
    """
    if op.get_context().as_sql:
        return
    found = op.get_bind().dialect.server_version_info or (0,)
    if int(found[0]) < major:
        shown = ".".join(str(part) for part in found)
        raise MigrationKitError(
            f"This revision needs PostgreSQL {major} or newer ({feature}); the "
            f"server runs {shown}. Nothing was changed by it: upgrade the server, "
            "then run `alembic upgrade head` again."
        )
