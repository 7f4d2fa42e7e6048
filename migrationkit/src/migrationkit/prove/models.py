"""Do the models build the schema the migrations build? Compared as catalogs.

``alembic check`` compares through autogenerate, which does not see a CHECK
constraint's expression, compares server defaults loosely, ignores enum values
and takes an INVALID index for a valid one. Here the models are built for real
(``metadata.create_all`` in the emptied scratch database, after the head's
schemas and extensions) and the two databases are compared as catalog snapshots, with
PostgreSQL normalising both sides: ``CHECK (price >= 0)`` in a model and
``CHECK ((price >= 0))`` from a migration are the same constraint, and
``server_default="0"`` and ``'0'::integer`` the same default.

Only what models can declare is compared (``models_scope``): tables, columns,
constraints, indexes, sequences and types a column uses, and comments on tables
and columns, within what env.py's ``include_name``/``include_object`` let
autogenerate see, less what the project declares database-only. Functions,
triggers, views, row security and the types only functions use are a
migration's business alone.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys
from collections.abc import Sequence

import sqlalchemy as sa

from migrationkit.prove.catalog import CatalogSnapshot
from migrationkit.prove.diff import diff_snapshots
from migrationkit.prove.models_scope import (
    ModelsScope,
    comparable_pair,
    excluded_at_head,
)
from migrationkit.prove.report import Block, Finding
from migrationkit.prove.walk import Walk

_FIX_UNREGISTERED = (
    "import every model module where the metadata is built (the models "
    "package's __init__.py), then autogenerate the revision for it"
)
_FIX_MODELS = (
    "if the models are right, write a revision for the difference "
    "(`alembic revision --autogenerate` misses CHECK expressions, enum values "
    "and some defaults: review what it writes); if the migrations are right, "
    "fix the models"
)
_FIX_DATABASE_ONLY = (
    "an object the models cannot declare (made by a revision for a function, "
    "say): name it in pyproject.toml, [tool.migrationkit.prove] database_only = "
    '["{name}"], or leave it out of autogenerate with include_object in env.py'
)


def prove_models(
    walk: Walk,
    *,
    head: CatalogSnapshot,
    at: str,
    metadatas: Sequence[sa.MetaData],
    scope: ModelsScope | None = None,
) -> list[Finding]:
    """Build the models where the head was, and compare the two catalogs.

    The walk's database is at head and its catalog (``head``) is known, so it is
    emptied and reused rather than a new database created (on a busy disk a
    CREATE and a DROP DATABASE cost more than the whole comparison). What env.py's
    filters leave out is judged first, while the database is still at head.
    """
    scope = scope or ModelsScope()
    excluded = excluded_at_head(walk.connection(), scope=scope, metadatas=metadatas)
    connection = walk.empty_for_reuse()
    _build_models(connection, metadatas, head=head)
    database, models = comparable_pair(
        head,
        walk.snapshot(connection),
        excluded=excluded,
        database_only=scope.database_only,
    )
    diff = diff_snapshots(database, models)
    if not diff:
        return []
    advice = [_FIX_MODELS]
    if diff.removed:
        advice.append(_FIX_DATABASE_ONLY.format(name=diff.removed[0].label))
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
                Block(title="What to do", lines=tuple(advice)),
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


def unregistered_models(metadatas: Sequence[sa.MetaData]) -> list[Finding]:
    """Tables declared in a module of the models' package that nothing imports.

    A model module env.py never imports (directly or through the package's
    ``__init__``) registers no table, so neither autogenerate nor the models check
    sees it: the migrations silently lack it. Every module of each package that
    defines a model is imported (``__main__`` modules, which are scripts, are
    not), and a table that appears only then is named with its module.
    (Importing a project module runs it, as pytest-alembic's
    ``all_models_register_on_metadata`` does too.)
    """
    before = {id(md): set(md.tables) for md in metadatas}
    packages = {name for md in metadatas for name in _root_packages(md)}
    imported: list[str] = []
    for package in sorted(packages):
        module = sys.modules.get(package)
        path = getattr(module, "__path__", None)
        if path is None:
            continue
        for info in pkgutil.walk_packages(path, prefix=f"{package}."):
            # A __main__ module is a script: importing it would run it.
            if info.name.rsplit(".", 1)[-1] == "__main__":
                continue
            if info.name not in sys.modules:
                importlib.import_module(info.name)
                imported.append(info.name)
    lines = [
        f"table {name}: {_defined_in(md, name)}"
        for md in metadatas
        for name in sorted(set(md.tables) - before[id(md)])
    ]
    if not lines:
        return []
    return [
        Finding(
            code="models",
            verdict=(
                f"{len(lines)} model table(s) are declared in modules env.py never "
                "imports, so neither the migrations nor this check saw them"
            ),
            blocks=(
                Block(title="Not registered on target_metadata", lines=tuple(lines)),
                Block(
                    title="What to do",
                    lines=(_FIX_UNREGISTERED,),
                ),
            ),
        )
    ]


def _root_packages(metadata: sa.MetaData) -> set[str]:
    """The top-level packages of the modules that define a class on ``metadata``.

    Where a class is defined (its ``__module__``), not every module that imports
    it: a script or benchmark doing ``from models import User`` is no models
    package, and walking it would run its modules.
    """
    return {
        str(module.__name__).split(".")[0]
        for module in list(sys.modules.values())
        if module is not None
        for value in list(vars(module).values())
        if isinstance(value, type)
        and getattr(value, "metadata", None) is metadata
        and getattr(value, "__module__", None) == getattr(module, "__name__", "")
    }


def _defined_in(metadata: sa.MetaData, table: str) -> str:
    for name, module in list(sys.modules.items()):
        for value in list(vars(module).values()) if module is not None else ():
            found = getattr(value, "__table__", None)
            if isinstance(value, type) and found is metadata.tables[table]:
                return name
    return "an unimported module"
