"""Enum values the models added: autogenerate does not see them, this does.

Alembic compares a PostgreSQL enum column by its type's name only, so a value
added to a model's ``Enum`` yields no operation. The native enum types the models
use are compared here with ``pg_enum``: a value only the models have becomes
``op.add_enum_value`` (placed where the model lists it); a value only the
database has is reported in a comment, never turned into a rename or a drop.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import sqlalchemy as sa
from alembic.operations import MigrateOperation

from migrationkit.autogenerate.render import CommentBlock, Commented
from migrationkit.ops.enums import AddEnumValueOp, RemoveEnumValueOp

_DATABASE_ENUMS = sa.text(
    "SELECT n.nspname AS schema, t.typname AS name,"
    " array_agg(e.enumlabel ORDER BY e.enumsortorder) AS labels"
    " FROM pg_enum e JOIN pg_type t ON t.oid = e.enumtypid"
    " JOIN pg_namespace n ON n.oid = t.typnamespace"
    " GROUP BY n.nspname, t.typname"
)


def model_enums(
    metadata: sa.MetaData | Sequence[sa.MetaData] | None,
) -> dict[tuple[str | None, str], list[str]]:
    """(schema, name) -> values of every named native enum type the models use."""
    found: dict[tuple[str | None, str], list[str]] = {}
    for meta in _each(metadata):
        for table in meta.tables.values():
            for column in table.columns:
                type_ = column.type
                if isinstance(type_, sa.Enum) and type_.native_enum and type_.name:
                    schema = type_.schema or table.schema
                    found[(schema, str(type_.name))] = list(type_.enums)
    return found


def _each(
    metadata: sa.MetaData | Sequence[sa.MetaData] | None,
) -> Iterable[sa.MetaData]:
    if metadata is None:
        return ()
    if isinstance(metadata, sa.MetaData):
        return (metadata,)
    return metadata


def enum_changes(
    connection: sa.Connection,
    metadata: sa.MetaData | Sequence[sa.MetaData] | None,
) -> tuple[list[MigrateOperation], list[MigrateOperation]]:
    """The upgrade and downgrade operations for enum values the models added."""
    default_schema = connection.scalar(sa.text("SELECT current_schema()"))
    database = {
        (row.schema, row.name): list(row.labels)
        for row in connection.execute(_DATABASE_ENUMS)
    }
    upgrade: list[MigrateOperation] = []
    downgrade: list[MigrateOperation] = []
    for (schema, name), values in sorted(
        model_enums(metadata).items(), key=lambda item: (item[0][0] or "", item[0][1])
    ):
        existing = database.get((schema or default_schema, name))
        if existing is None:
            continue  # a new type: created with its table or column
        added = [value for value in values if value not in existing]
        for value in added:
            upgrade.append(
                Commented(
                    AddEnumValueOp(
                        name, value, **_place(value, values, existing), schema=schema
                    ),
                    comment="ADD VALUE committed on its own: in a transaction it "
                    "fails (PG < 12) or stays unusable until commit",
                )
            )
        downgrade += [
            Commented(
                RemoveEnumValueOp(name, value, schema=schema),
                comment="no DROP VALUE in PostgreSQL: the type is rebuilt without "
                "it (its tables rewritten; refused while rows hold it)",
            )
            for value in reversed(added)
        ]
        gone = [value for value in existing if value not in values]
        if gone:
            listed = ", ".join(gone)
            upgrade.append(
                CommentBlock(
                    [
                        (
                            f"TODO(migrationkit): {name} holds {listed} in the "
                            "database but not in the models."
                        ),
                        (
                            "Renamed or removed enum values are never guessed: "
                            "write ALTER TYPE ... RENAME VALUE,"
                        ),
                        "or a new type and a column switch, by hand.",
                    ]
                )
            )
    return upgrade, downgrade


def _place(value: str, values: list[str], existing: list[str]) -> dict[str, str]:
    """``after=`` the value the model lists before it, else ``before=`` the next."""
    index = values.index(value)
    if index > 0:  # added in the models' order, so the one before is there by then
        return {"after": values[index - 1]}
    later = [v for v in values[index + 1 :] if v in existing]
    return {"before": later[0]} if later else {}
