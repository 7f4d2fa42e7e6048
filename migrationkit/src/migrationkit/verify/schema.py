"""Do the models and the live schema agree? Tables and columns, then indexes and
constraints.

The drift engine is Alembic's own ``compare_metadata`` with ``compare_type`` and
``compare_server_default`` on: the comparison ``alembic check`` and
``revision --autogenerate`` make, so this check and those commands never disagree.
Its diffs are sorted into structure (tables, columns, types, nullability, server
defaults, comments) and indexes/constraints (indexes, unique constraints, foreign
keys). Alembic does not compare primary keys or CHECK constraints, nor does it see
INVALID indexes or NOT VALID constraints, so those come from ``pg_catalog``
(``migrationkit.verify.catalog``).

Everything is generic: it walks whatever tables the metadata holds.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext

from migrationkit.ledger.table import LedgerTable, ignoring_ledger
from migrationkit.verify.catalog import constraint_problems, invalid_indexes
from migrationkit.verify.result import CheckResult, alembic_command

_STRUCTURE_OPS = frozenset(
    {
        "add_table",
        "remove_table",
        "add_column",
        "remove_column",
        "modify_type",
        "modify_nullable",
        "modify_default",
        "modify_comment",
        "add_table_comment",
        "remove_table_comment",
    }
)


@dataclass(frozen=True, kw_only=True)
class SchemaFindings:
    structure: CheckResult
    constraints: CheckResult
    missing_tables: tuple[str, ...]
    """Tables of the models the database lacks: model checks cannot run without."""


def check_schema(
    connection: sa.Connection, *, metadata: sa.MetaData, config: Config
) -> SchemaFindings:
    """Compare ``metadata`` with the database on ``connection`` (read only)."""
    context = MigrationContext.configure(
        connection=connection,
        opts={
            "compare_type": True,
            "compare_server_default": True,
            # the ledger, like the version table, is the toolkit's, not the models'
            "include_name": ignoring_ledger(
                None, table=LedgerTable.beside(config=config)
            ),
        },
    )
    diffs = _flatten(compare_metadata(context, metadata))
    missing = {_qualified(d[1]) for d in diffs if d[0] == "add_table"}
    extra = {_qualified(d[1]) for d in diffs if d[0] == "remove_table"}
    dialect = connection.dialect

    structure_lines = [
        _describe_structure(diff, dialect)
        for diff in diffs
        if diff[0] in _STRUCTURE_OPS
    ]
    constraint_lines: list[str] = []
    folded: dict[str, int] = {}
    for diff in diffs:
        if diff[0] in _STRUCTURE_OPS:
            continue
        owner = _table_of(diff)
        if owner in missing or owner in extra:
            folded[owner] = folded.get(owner, 0) + 1
        else:
            constraint_lines.append(_describe_constraint_diff(diff))
    for owner, count in sorted(folded.items()):
        where = "missing from the database" if owner in missing else "extra"
        constraint_lines.append(
            f"table {owner} is {where}, and with it {count} index(es)/constraint(s)"
        )
    present = [t for t in metadata.sorted_tables if _qualified(t) not in missing]
    for table in present:
        constraint_lines += constraint_problems(connection, table)
    upgrade = alembic_command(config, "upgrade", "head")
    invalid_lines, invalid_fixes = invalid_indexes(connection, metadata=metadata)

    columns = sum(len(t.columns) for t in metadata.sorted_tables)
    tables = len(metadata.sorted_tables)
    autogenerate = alembic_command(
        config, "revision", "--autogenerate", "-m", '"describe the change"'
    )
    drift_fix = (
        f"if the database is behind, `{upgrade}`; if the models changed, write a "
        f"migration with `{autogenerate}` and review it; "
        f"`{alembic_command(config, 'check')}` lists the same differences"
    )
    structure = CheckResult(
        name="table_structure",
        title="table structure",
        ok=not structure_lines,
        summary=(
            f"{_count(tables, 'table')}, {_count(columns, 'column')} checked: "
            + (
                "types, nullability and server defaults match the models"
                if not structure_lines
                else f"{_count(len(structure_lines), 'difference')} from the models"
            )
        ),
        details=tuple(structure_lines),
        fix=drift_fix if structure_lines else None,
    )
    problems = constraint_lines + invalid_lines
    fixes = ([drift_fix] if constraint_lines else []) + invalid_fixes
    constraints = CheckResult(
        name="indexes_and_constraints",
        title="indexes and constraints",
        ok=not problems,
        summary=(
            _constraint_counts(metadata)
            + " checked: "
            + (
                "all present and valid, nothing extra"
                if not problems
                else f"{_count(len(problems), 'problem')}"
            )
        ),
        details=tuple(problems),
        fix="; ".join(fixes) if fixes else None,
    )
    return SchemaFindings(
        structure=structure,
        constraints=constraints,
        missing_tables=tuple(sorted(missing)),
    )


def describe_differences(diffs: Sequence[Any], dialect: sa.Dialect) -> list[str]:
    """One line per difference in Alembic's ``compare_metadata`` output, for people.

    Alembic renders its diffs as Python reprs (``DefaultClause(<TextClause object
    at 0x...>)``); these lines name the object and say which side has what.
    """
    return [
        _describe_structure(diff, dialect)
        if diff[0] in _STRUCTURE_OPS
        else _describe_constraint_diff(diff)
        for diff in _flatten(diffs)
    ]


def _flatten(diffs: Sequence[Any]) -> list[tuple[Any, ...]]:
    """Alembic nests column modifications in lists; one tuple per difference."""
    flat: list[tuple[Any, ...]] = []
    for diff in diffs:
        if isinstance(diff, list):
            flat.extend(tuple(item) for item in diff)
        else:
            flat.append(tuple(diff))
    return flat


def _qualified(table: sa.Table) -> str:
    return f"{table.schema}.{table.name}" if table.schema else table.name


def _column_name(schema: str | None, table: str, column: str) -> str:
    return f"{schema}.{table}.{column}" if schema else f"{table}.{column}"


def _table_of(diff: tuple[Any, ...]) -> str:
    obj = diff[1]
    table = getattr(obj, "parent", None) if diff[0].endswith("_fk") else None
    table = table if table is not None else getattr(obj, "table", None)
    return _qualified(table) if isinstance(table, sa.Table) else "?"


def _render_type(type_: Any, dialect: sa.Dialect) -> str:
    try:
        return str(type_.compile(dialect=dialect))
    except sa.exc.SQLAlchemyError:
        return repr(type_)


def _render_default(default: Any, dialect: sa.Dialect) -> str:
    if default is None or default is False:
        return "no server default"
    arg = getattr(default, "arg", default)
    if isinstance(arg, str):
        return f"server default {arg!r}"
    if isinstance(arg, sa.TextClause):
        return f"server default {arg.text}"
    if isinstance(arg, sa.ClauseElement):
        return f"server default {arg.compile(dialect=dialect)}"
    return f"server default {arg!r}"


def _nullability(nullable: Any) -> str:
    return "nullable" if nullable else "NOT NULL"


_MISSING = "in the models, missing from the database"
_EXTRA = "in the database, not in the models"


def _describe_structure(diff: tuple[Any, ...], dialect: sa.Dialect) -> str:
    op = diff[0]
    if op in {"add_table", "remove_table"}:
        table = diff[1]
        where = _MISSING if op == "add_table" else _EXTRA
        columns = _count(len(table.columns), "column")
        return f"table {_qualified(table)} ({columns}): {where}"
    if op in {"add_table_comment", "remove_table_comment"}:
        return f"table {_qualified(diff[1])}: comment differs from the models"
    if op in {"add_column", "remove_column"}:
        _, schema, table_name, column = diff
        where = _MISSING if op == "add_column" else _EXTRA
        name = _column_name(schema, table_name, column.name)
        return f"column {name} ({_render_type(column.type, dialect)}): {where}"
    return _describe_column_change(diff, dialect)


def _describe_column_change(diff: tuple[Any, ...], dialect: sa.Dialect) -> str:
    """``modify_*`` diffs carry the database's value, then the models'."""
    op, schema, table_name, column, _existing, db_value, model_value = diff
    name = _column_name(schema, table_name, column)
    render: dict[str, Any] = {
        "modify_type": lambda value: f"type {_render_type(value, dialect)}",
        "modify_nullable": _nullability,
        "modify_default": lambda value: _render_default(value, dialect),
    }
    if op not in render:
        return f"column {name}: {op.removeprefix('modify_')} differs from the models"
    return (
        f"column {name}: {render[op](db_value)} in the database, "
        f"{render[op](model_value).removeprefix('type ')} in the models"
    )


def _describe_constraint_diff(diff: tuple[Any, ...]) -> str:
    op, obj = diff[0], diff[1]
    where = _MISSING if op.startswith("add_") else _EXTRA
    table = _table_of(diff)
    if isinstance(obj, sa.Index):
        kind = "unique index" if obj.unique else "index"
        columns = ", ".join(str(getattr(e, "name", e)) for e in obj.expressions)
        return f"{kind} {obj.name} on {table} ({columns}): {where}"
    if isinstance(obj, sa.ForeignKeyConstraint):
        referred = _qualified(obj.referred_table)
        columns = ", ".join(c.name for c in obj.columns)
        targets = ", ".join(e.column.name for e in obj.elements)
        return (
            f"foreign key {obj.name or '(unnamed)'} on {table} ({columns}) -> "
            f"{referred} ({targets}): {where}"
        )
    if isinstance(obj, sa.UniqueConstraint):
        columns = ", ".join(c.name for c in obj.columns)
        return f"unique constraint {obj.name} on {table} ({columns}): {where}"
    return f"{op.replace('_', ' ')} {getattr(obj, 'name', obj)} on {table}"


def _constraint_counts(metadata: sa.MetaData) -> str:
    tables = metadata.sorted_tables
    indexes = sum(len(t.indexes) for t in tables)
    uniques = sum(
        isinstance(c, sa.UniqueConstraint) for t in tables for c in t.constraints
    )
    primary_keys = sum(bool(t.primary_key.columns) for t in tables)
    foreign_keys = sum(len(t.foreign_key_constraints) for t in tables)
    checks = sum(
        isinstance(c, sa.CheckConstraint) for t in tables for c in t.constraints
    )
    return ", ".join(
        [
            _count(indexes, "index", "indexes"),
            _count(uniques, "unique constraint"),
            _count(primary_keys, "primary key"),
            _count(foreign_keys, "foreign key"),
            _count(checks, "check constraint"),
        ]
    )


def _count(number: int, singular: str, plural: str | None = None) -> str:
    word = singular if number == 1 else (plural or f"{singular}s")
    return f"{number} {word}"
