"""What Alembic's comparison cannot see, read from ``pg_catalog``.

``compare_metadata`` compares neither primary keys nor CHECK constraints, and it
reflects an INVALID index or a NOT VALID constraint as if it were whole. These
functions fill those gaps for one table, or for the models' schemas, and return
plain lines for people.
"""

from __future__ import annotations

import sqlalchemy as sa

_CONSTRAINTS_OF_TABLE = sa.text(
    "SELECT c.conname::text AS name, c.contype::text AS kind,"
    "       c.convalidated AS validated, pg_get_constraintdef(c.oid) AS definition,"
    "       array(SELECT a.attname::text"
    "               FROM unnest(c.conkey) WITH ORDINALITY AS k(attnum, ord)"
    "               JOIN pg_attribute a"
    "                 ON a.attrelid = c.conrelid AND a.attnum = k.attnum"
    "              ORDER BY k.ord) AS columns"
    "  FROM pg_constraint c"
    " WHERE c.conrelid = to_regclass(:table) AND c.contype IN ('p', 'c', 'f')"
    " ORDER BY c.conname"
)

_INVALID_INDEXES = sa.text(
    "SELECT n.nspname::text AS schema_name, ic.relname::text AS index_name,"
    "       tc.relname::text AS table_name, i.indisready AS ready,"
    "       i.indisunique AS is_unique,"
    "       EXISTS (SELECT 1 FROM pg_stat_progress_create_index p"
    "                WHERE p.relid = i.indrelid) AS being_built"
    "  FROM pg_index i"
    "  JOIN pg_class ic ON ic.oid = i.indexrelid"
    "  JOIN pg_class tc ON tc.oid = i.indrelid"
    "  JOIN pg_namespace n ON n.oid = ic.relnamespace"
    " WHERE NOT i.indisvalid AND n.nspname = ANY(:schemas)"
    " ORDER BY 1, 2"
)


def constraint_problems(connection: sa.Connection, table: sa.Table) -> list[str]:
    """Primary key (name and columns) and CHECK constraints, and NOT VALID ones."""
    qualified = connection.dialect.identifier_preparer.format_table(table)
    rows = connection.execute(_CONSTRAINTS_OF_TABLE, {"table": qualified}).all()
    name = f"{table.schema}.{table.name}" if table.schema else table.name
    problems: list[str] = []

    model_pk = table.primary_key
    model_pk_columns = [c.name for c in model_pk.columns]
    db_pk = next((r for r in rows if r.kind == "p"), None)
    if model_pk_columns and db_pk is None:
        problems.append(
            f"primary key {model_pk.name or ''} on {name} "
            f"({', '.join(model_pk_columns)}): in the models, missing from the database"
        )
    elif db_pk is not None and not model_pk_columns:
        problems.append(
            f"primary key {db_pk.name} on {name}: in the database, not in the models"
        )
    elif db_pk is not None:
        if isinstance(model_pk.name, str) and model_pk.name != db_pk.name:
            problems.append(
                f"primary key of {name}: named {db_pk.name} in the database, "
                f"{model_pk.name} in the models"
            )
        if list(db_pk.columns) != model_pk_columns:
            problems.append(
                f"primary key of {name}: on ({', '.join(db_pk.columns)}) in the "
                f"database, on ({', '.join(model_pk_columns)}) in the models"
            )

    checks = [c for c in table.constraints if isinstance(c, sa.CheckConstraint)]
    named = {str(c.name) for c in checks if isinstance(c.name, str)}
    unnamed = len(checks) - len(named)
    db_checks = {r.name: r for r in rows if r.kind == "c"}
    problems += [
        f"check constraint {missing} on {name}: in the models, missing from the "
        "database"
        for missing in sorted(named - db_checks.keys())
    ]
    # Unnamed CHECKs get names the server makes up: they can only be counted.
    leftovers = sorted(set(db_checks) - named)
    problems += [
        f"check constraint {extra} on {name}: in the database, not in the models: "
        f"{db_checks[extra].definition}"
        for extra in leftovers[unnamed:]
    ]
    problems += [
        f"{'foreign key' if r.kind == 'f' else 'check constraint'} {r.name} on "
        f"{name} is NOT VALID (existing rows were never checked): run "
        f"ALTER TABLE {qualified} VALIDATE CONSTRAINT {r.name}"
        for r in rows
        if r.kind in {"c", "f"} and not r.validated
    ]
    return problems


def invalid_indexes(
    connection: sa.Connection, *, metadata: sa.MetaData
) -> tuple[list[str], list[str]]:
    """Indexes with ``pg_index.indisvalid = false`` in the models' schemas.

    A failed ``CREATE INDEX CONCURRENTLY`` leaves one behind: it costs every write
    yet serves no query. One cut short after its build (``indisready``) is still
    maintained, and a unique one still refuses duplicates: it acts as a unique
    constraint that nothing declares, while guaranteeing nothing about old rows.
    The fix is a rebuild in place (``REINDEX INDEX CONCURRENTLY``): rerunning the
    migration would do nothing once the database is at head.
    """
    current = connection.execute(sa.text("SELECT current_schema()")).scalar_one()
    schemas = sorted({t.schema or current for t in metadata.sorted_tables} | {current})
    rows = connection.execute(_INVALID_INDEXES, {"schemas": schemas}).all()
    quote = connection.dialect.identifier_preparer.quote
    lines: list[str] = []
    fixes: list[str] = []
    for row in rows:
        cause = (
            "a CREATE INDEX on this table is running right now; if it is this "
            "one, wait for it"
            if row.being_built
            else "left by a failed CREATE INDEX CONCURRENTLY"
        )
        if row.ready and row.is_unique:
            effect = (
                "it serves no query, yet every write is checked against it: it "
                "refuses duplicate values as a unique constraint would"
            )
        elif row.ready:
            effect = "it slows every write and serves no query"
        else:
            effect = "it serves no query"
        kind = "unique index" if row.is_unique else "index"
        ready = " but ready" if row.ready else ""
        lines.append(
            f"{kind} {row.index_name} on {row.schema_name}.{row.table_name} is "
            f"INVALID{ready} ({cause}): {effect}"
        )
        name = f"{quote(row.schema_name)}.{quote(row.index_name)}"
        fix = f"rebuild it without blocking writes: REINDEX INDEX CONCURRENTLY {name}"
        if row.is_unique:
            fix += " (if the build failed on duplicate values, remove them first)"
        fix += f", or drop it: DROP INDEX CONCURRENTLY {name}"
        if row.being_built:
            fix = f"wait for the build running now; if it fails, {fix}"
        fixes.append(fix)
    return lines, fixes
