"""A full catalog snapshot: everything a migration can leave behind, by name.

Alembic's autogenerate compares what SQLAlchemy models can express, so a downgrade
that forgets a function, an enum type, a sequence or a trigger passes every
autogenerate-based check while the upgrade is idempotent. The snapshot reads
``pg_catalog`` directly instead: one query per object kind (never one per object,
and all of them sent as one statement), each returning ``(key, attributes)``
rows, where the key is the object's qualified name and the attributes are what
makes it what it is (a column's type, default, nullability, identity, generated
expression and collation; a constraint's definition and validity; an index's
definition and validity; ...).

Keys are names, never OIDs, so two databases (or one database before and after a
round trip) compare object by object. Objects that belong to PostgreSQL itself, to
temporary schemas or to an extension are left out: an extension is one object
("extension citext 1.6"), not the hundred functions it installs. Column order is
not compared: PostgreSQL cannot put a re-added column back in its place without
rewriting the table, so a downgrade cannot be asked to.

All queries are read-only and run in one REPEATABLE READ transaction, so the
snapshot is consistent even if something else writes meanwhile.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from migrationkit.ledger.table import LedgerTable
from migrationkit.prove.kinds import (
    ALL_KINDS,
    KINDS,
    VERSION_ROWS,
    user_objects,
)


@dataclass(frozen=True)
class CatalogSnapshot:
    """``objects[kind][key] -> attributes``; compare two with ``diff_snapshots``."""

    objects: Mapping[str, Mapping[str, Mapping[str, Any]]] = field(default_factory=dict)

    def count(self) -> int:
        return sum(len(found) for found in self.objects.values())

    def only(self, kinds: set[str]) -> CatalogSnapshot:
        """The same snapshot restricted to ``kinds``."""
        return CatalogSnapshot({k: v for k, v in self.objects.items() if k in kinds})


@dataclass(frozen=True, kw_only=True)
class VersionTable:
    """Where Alembic keeps the revision; left out of the tables, compared by rows."""

    name: str = "alembic_version"
    schema: str | None = None


def take_snapshot(
    connection: sa.Connection, *, version_table: VersionTable | None = None
) -> CatalogSnapshot:
    """Read every kind of object from ``pg_catalog``: one query per kind.

    Runs in its own REPEATABLE READ, READ ONLY transaction on ``connection``
    (which must not be inside one) and rolls it back. A proof takes two per
    revision, so the round trips to the server are counted: the catalog in
    one statement, the version and ledger tables' names in one more, the
    version rows in a third.
    """
    version_table = version_table or VersionTable()
    left_out = [version_table, *_ledger_tables(version_table)]
    objects: dict[str, dict[str, dict[str, Any]]] = {}
    with connection.begin() as transaction:
        connection.execute(
            sa.text("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        )
        objects.update({kind.name: {} for kind in KINDS})
        for row in connection.execute(ALL_KINDS):
            objects[row.kind][row.key] = dict(row.attrs)
        names = _names(connection, version_table=version_table, left_out=left_out)
        objects[VERSION_ROWS.name] = _version_rows(connection, names.version)
        for quoted in names.left_out:  # the version table and the toolkit's, alike
            _leave_out_table(objects, quoted)
        transaction.rollback()
    return CatalogSnapshot(objects)


@dataclass(frozen=True, kw_only=True)
class _Names:
    version: str | None
    """The version table as a query names it, if it exists."""
    left_out: tuple[str, ...]
    """The tables left out of the snapshot, as the snapshot's keys name them."""


def _names(
    connection: sa.Connection,
    *,
    version_table: VersionTable,
    left_out: list[VersionTable],
) -> _Names:
    """One query: whether the version table exists, and the left-out tables'
    keys (``format('%I.%I')``, in the table's schema or the current one)."""
    preparer = connection.dialect.identifier_preparer
    qualified = preparer.quote(version_table.name)
    if version_table.schema:
        qualified = f"{preparer.quote_schema(version_table.schema)}.{qualified}"
    columns = ", ".join(
        f"format('%I.%I', coalesce(CAST(:s{i} AS text), current_schema()), "
        f"CAST(:t{i} AS text))"
        for i in range(len(left_out))
    )
    parameters: dict[str, str | None] = {"version": qualified}
    for i, table in enumerate(left_out):
        parameters[f"s{i}"] = table.schema
        parameters[f"t{i}"] = table.name
    row = connection.execute(
        sa.text(f"SELECT to_regclass(:version) IS NOT NULL, {columns}"), parameters
    ).one()
    return _Names(
        version=qualified if row[0] else None,
        left_out=tuple(str(name) for name in row[1:]),
    )


def _version_rows(
    connection: sa.Connection, qualified: str | None
) -> dict[str, dict[str, Any]]:
    if qualified is None:
        return {}
    versions = connection.execute(
        sa.text(f"SELECT version_num FROM {qualified}")
    ).scalars()
    return {str(version): {} for version in versions}


_TABLES = sa.text(
    "SELECT q.name, quote_literal(q.name) AS literal FROM ("
    "SELECT format('%I.%I', n.nspname, c.relname) AS name"
    " FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
    " WHERE c.relkind = 'r' AND "
    + user_objects("n", catalog="pg_class", oid="c.oid")
    + ") AS q ORDER BY 1"
)
_SEQUENCES = (
    "SELECT format('%I.%I', schemaname, sequencename), last_value::text"
    " FROM pg_sequences"
)


def take_contents(
    connection: sa.Connection, *, version_table: VersionTable | None = None
) -> dict[str, str | None]:
    """What the tables hold and where the sequences are, one fingerprint each.

    The catalog says what a database *is*; this says what it *holds*: an md5
    of every table's rows (as text, sorted) and each sequence's last value.
    Two databases with equal snapshots and equal contents are as good as each
    other for what comes next, so the walk may go on in one where it would
    otherwise copy the other. The version and ledger tables are left out (the
    snapshot compares the version rows; the ledger records each walk as it
    went, by design). Two statements: the tables' names (quoted by the
    server), then one query over all of them.
    """
    version_table = version_table or VersionTable()
    left_out = [version_table, *_ledger_tables(version_table)]
    with connection.begin() as transaction:
        connection.execute(
            sa.text("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        )
        names = _names(connection, version_table=version_table, left_out=left_out)
        rows = [
            f"SELECT {table.literal}, md5(coalesce(string_agg(t::text, chr(10) "
            f"ORDER BY t::text), '')) FROM {table.name} AS t"
            for table in connection.execute(_TABLES)
            if table.name not in names.left_out
        ]
        # Names come quoted by the server; psycopg reads % as a placeholder.
        query = " UNION ALL ".join([*rows, _SEQUENCES]).replace("%", "%%")
        found = connection.exec_driver_sql(query).all()
        transaction.rollback()
    return {str(name): value for name, value in found}


def _ledger_tables(version_table: VersionTable) -> list[VersionTable]:
    """The migration ledger's tables (``migrationkit.ledger``), made on first use."""
    ledger = LedgerTable.beside(
        version_table=version_table.name, schema=version_table.schema
    )
    return [
        VersionTable(name=name, schema=version_table.schema)
        for name in (ledger.name, ledger.progress_name)
    ]


def _leave_out_table(
    objects: dict[str, dict[str, dict[str, Any]]], quoted: str
) -> None:
    """Alembic creates the version table on first use and keeps it at base."""
    for kind in ("tables", "columns", "constraints", "indexes"):
        found = objects.get(kind, {})
        for key in [k for k in found if k == quoted or k.startswith(quoted + ".")]:
            del found[key]
        if kind == "indexes":
            for key in [k for k, v in found.items() if _on_table(v, quoted)]:
                del found[key]


def _on_table(attrs: Mapping[str, Any], quoted: str) -> bool:
    definition = str(attrs.get("definition", ""))
    return f" ON {quoted} " in definition or f" ON ONLY {quoted} " in definition
