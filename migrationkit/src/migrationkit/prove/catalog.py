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
    (which must not be inside one) and rolls it back.
    """
    version_table = version_table or VersionTable()
    objects: dict[str, dict[str, dict[str, Any]]] = {}
    with connection.begin() as transaction:
        connection.execute(
            sa.text("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        )
        objects.update({kind.name: {} for kind in KINDS})
        for row in connection.execute(ALL_KINDS):
            objects[row.kind][row.key] = dict(row.attrs)
        objects[VERSION_ROWS.name] = _version_rows(connection, version_table)
        _leave_out_version_table(objects, connection, version_table)
        for table in _ledger_tables(version_table):  # the toolkit's, like it
            _leave_out_version_table(objects, connection, table)
        transaction.rollback()
    return CatalogSnapshot(objects)


def _version_rows(
    connection: sa.Connection, version_table: VersionTable
) -> dict[str, dict[str, Any]]:
    preparer = connection.dialect.identifier_preparer
    qualified = preparer.quote(version_table.name)
    if version_table.schema:
        qualified = f"{preparer.quote_schema(version_table.schema)}.{qualified}"
    exists = connection.execute(
        sa.text("SELECT to_regclass(:name) IS NOT NULL"), {"name": qualified}
    ).scalar_one()
    if not exists:
        return {}
    versions = connection.execute(
        sa.text(f"SELECT version_num FROM {qualified}")
    ).scalars()
    return {str(version): {} for version in versions}


def _ledger_tables(version_table: VersionTable) -> list[VersionTable]:
    """The migration ledger's tables (``migrationkit.ledger``), made on first use."""
    ledger = LedgerTable.beside(
        version_table=version_table.name, schema=version_table.schema
    )
    return [
        VersionTable(name=name, schema=version_table.schema)
        for name in (ledger.name, ledger.progress_name)
    ]


def _leave_out_version_table(
    objects: dict[str, dict[str, dict[str, Any]]],
    connection: sa.Connection,
    version_table: VersionTable,
) -> None:
    """Alembic creates the version table on first use and keeps it at base."""
    schema = (
        version_table.schema
        or connection.execute(sa.text("SELECT current_schema()")).scalar_one()
    )
    quoted = connection.execute(
        sa.text("SELECT format('%I.%I', CAST(:s AS text), CAST(:t AS text))"),
        {"s": schema, "t": version_table.name},
    ).scalar_one()
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
