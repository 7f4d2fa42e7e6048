"""Do the models build the schema the migrations build? Compared as catalogs.

``alembic check`` compares through autogenerate, which does not see a CHECK
constraint's expression, compares server defaults loosely, ignores enum values
and takes an INVALID index for a valid one. Here the models are built for real
(``metadata.create_all`` in the emptied scratch database, after the head's
schemas and extensions) and the two databases are compared as catalog snapshots, with
PostgreSQL normalising both sides: ``CHECK (price >= 0)`` in a model and
``CHECK ((price >= 0))`` from a migration are the same constraint, and
``server_default="0"`` and ``'0'::integer`` the same default.

Only what models can declare is compared: tables, columns, constraints, indexes,
sequences, types, and comments on tables and columns. Functions, triggers and
views are a migration's business alone.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa

from migrationkit.prove.catalog import CatalogSnapshot
from migrationkit.prove.diff import diff_snapshots
from migrationkit.prove.kinds import KINDS
from migrationkit.prove.report import Block, Finding
from migrationkit.prove.walk import Walk

_MODEL_KINDS = {kind.name for kind in KINDS if kind.in_models}
_MODEL_COMMENTS = ("table ", "column ")
_FIX_MODELS = (
    "if the models are right, write a revision for the difference "
    "(`alembic revision --autogenerate` misses CHECK expressions, enum values "
    "and some defaults: review what it writes); if the migrations are right, "
    "fix the models"
)


def prove_models(
    walk: Walk, *, head: CatalogSnapshot, at: str, metadatas: Sequence[sa.MetaData]
) -> list[Finding]:
    """Build the models where the head was, and compare the two catalogs.

    The walk's database is at head and its catalog (``head``) is known, so it is
    emptied and reused rather than a new database created (on a busy disk a
    CREATE and a DROP DATABASE cost more than the whole comparison).
    """
    connection = walk.empty_for_reuse()
    _build_models(connection, metadatas, head=head)
    models = walk.snapshot(connection)
    diff = diff_snapshots(_comparable(head), _comparable(models))
    if not diff:
        return []
    return [
        Finding(
            code="models",
            verdict=(
                f"the models do not match the database migrated to head ({at}): "
                f"{diff.summary()}"
            ),
            revision=at,
            blocks=(
                Block(
                    title="Catalog diff: database at head -> models",
                    lines=tuple(
                        diff.lines(
                            added="in the models, missing from the database",
                            removed="in the database, not in the models",
                            before="database",
                            after="models",
                        )
                    ),
                ),
                Block(
                    title="What to do",
                    lines=(_FIX_MODELS,),
                ),
            ),
        )
    ]


def _build_models(
    connection: sa.Connection,
    metadatas: Sequence[sa.MetaData],
    *,
    head: CatalogSnapshot,
) -> None:
    """The head's extensions and schemas first: models may use their types."""
    quote = connection.dialect.identifier_preparer.quote
    with connection.begin():
        for name in head.objects.get("schemas", {}):
            connection.execute(sa.text(f"CREATE SCHEMA IF NOT EXISTS {name}"))
        for name, attrs in head.objects.get("extensions", {}).items():
            connection.execute(
                sa.text(
                    f"CREATE EXTENSION IF NOT EXISTS {name}"
                    f" SCHEMA {quote(str(attrs['schema']))}"
                )
            )
        for metadata in metadatas:
            metadata.create_all(connection)


def _comparable(snapshot: CatalogSnapshot) -> CatalogSnapshot:
    kept = snapshot.only(_MODEL_KINDS - {"schemas"})
    comments = {
        key: attrs
        for key, attrs in kept.objects.get("comments", {}).items()
        if key.startswith(_MODEL_COMMENTS)
    }
    return CatalogSnapshot({**kept.objects, "comments": comments})
