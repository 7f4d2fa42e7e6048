"""The name PostgreSQL gives an unnamed constraint, so its safe form can carry it.

Without a ``naming_convention`` a model's ``unique=True`` or ``ForeignKey`` has
no name, and autogenerate writes ``op.create_unique_constraint(None, ...)`` with
a downgrade ``op.drop_constraint(None, ...)`` that cannot run. The safe forms need
a name (the index built CONCURRENTLY is attached by it), so the rewriter gives the
one PostgreSQL itself would choose (``authors_handle_key``,
``books_author_id_fkey``): the models build the same catalog, and ``prove``'s
models check agrees. When that name would be cut to fit 63 bytes, or is taken
already (PostgreSQL would then add a number), none is given and the operation
stays as Alembic wrote it, in both directions alike.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa

_LONGEST = 63
"""NAMEDATALEN - 1: PostgreSQL truncates longer names."""

_TAKEN = sa.text(
    "SELECT EXISTS (SELECT 1 FROM pg_class c"
    "  JOIN pg_namespace n ON n.oid = c.relnamespace"
    "  WHERE c.relname = :name AND n.nspname = coalesce(:schema, current_schema()))"
    " OR EXISTS (SELECT 1 FROM pg_constraint k"
    "  JOIN pg_namespace n ON n.oid = k.connamespace"
    "  WHERE k.conname = :name AND n.nspname = coalesce(:schema, current_schema()))"
)

UNIQUE = "key"
FOREIGN_KEY = "fkey"


def postgres_constraint_name(
    connection: sa.Connection,
    *,
    table: str,
    columns: Sequence[str],
    suffix: str,
    schema: str | None,
) -> str | None:
    """``<table>_<columns>_<suffix>`` when PostgreSQL would choose exactly that."""
    name = f"{table}_{'_'.join(columns)}_{suffix}"
    if not columns or len(name.encode()) > _LONGEST:
        return None
    if connection.scalar(_TAKEN, {"name": name, "schema": schema}):
        return None
    return name
