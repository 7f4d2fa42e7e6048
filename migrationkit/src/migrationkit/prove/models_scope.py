"""What the models check compares: only what models can say, as the project scopes it.

The round trip compares the whole catalog; the models check must not. A revision
may rightly leave objects no SQLAlchemy model can declare: row-level security on
a table, an enum type or a sequence that only a function uses. Reporting those as
"in the database, not in the models" asks for a model change nobody can write.
So, before the two catalogs are compared, both are cut down to

- the kinds models declare (tables, columns, constraints, indexes, sequences,
  types, comments on tables and columns), without the table attributes they
  cannot set (row security);
- types and sequences a column uses (or the models build): one used by nothing
  but functions is the migrations' business;
- what the project's env.py lets autogenerate see (``include_name`` for the
  database's names, ``include_object`` for both sides, called as Alembic calls
  them);
- less what the project declares database-only in ``[tool.migrationkit.prove]``
  ``database_only``, each named as the report names it (``enum type
  public.job_state``, ``table public.audit_log``) or by its qualified name alone.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from migrationkit.pg import quote_identifier
from migrationkit.prove.catalog import CatalogSnapshot
from migrationkit.prove.diff import CatalogObject
from migrationkit.prove.kinds import KIND_BY_NAME, KINDS

_MODEL_KINDS = {kind.name for kind in KINDS if kind.in_models} - {"schemas"}
_MODEL_COMMENTS = ("table ", "column ")
_DATABASE_ONLY_TABLE_ATTRS = ("row security", "forced row security")
"""Table attributes a model cannot set: ``ENABLE``/``FORCE ROW LEVEL SECURITY``."""
_TABLE_PARTS = ("columns", "constraints", "triggers", "policies")

Objects = dict[str, dict[str, dict[str, Any]]]


@dataclass(frozen=True, kw_only=True)
class ModelsScope:
    """The project's say in what the models check compares (see the module)."""

    include_name: Callable[..., bool] | None = None
    include_object: Callable[..., bool] | None = None
    database_only: tuple[str, ...] = ()


@dataclass(frozen=True)
class Excluded:
    """Catalog keys left out on both sides, by kind (``tables``, ``columns``, ...)."""

    keys: Mapping[str, frozenset[str]]

    def __contains__(self, item: tuple[str, str]) -> bool:
        kind, key = item
        return key in self.keys.get(kind, frozenset())


def excluded_at_head(
    connection: sa.Connection,
    *,
    scope: ModelsScope,
    metadatas: Sequence[sa.MetaData],
) -> Excluded:
    """What env.py's filters leave out, judged on the database at head and the models.

    Runs on the walk's connection while it is still at head: the database side of
    ``include_object`` is given reflected objects, as autogenerate gives it.
    """
    if scope.include_name is None and scope.include_object is None:
        return Excluded({})
    try:
        return _judge_both_sides(connection, scope=scope, metadatas=metadatas)
    finally:
        if connection.in_transaction():  # reflection began one; end it unchanged
            connection.rollback()


def _judge_both_sides(
    connection: sa.Connection,
    *,
    scope: ModelsScope,
    metadatas: Sequence[sa.MetaData],
) -> Excluded:
    default_schema = str(connection.scalar(sa.text("SELECT current_schema()")))
    found: dict[str, set[str]] = {}
    models = {
        (table.schema or default_schema, table.name): table
        for metadata in metadatas
        for table in metadata.tables.values()
    }
    reflected: dict[tuple[str, str], sa.Table] = {}
    for schema in sa.inspect(connection).get_schema_names():
        if schema == "information_schema" or schema.startswith("pg_"):
            continue
        metadata = sa.MetaData()
        # One batched reflection per schema, not a round trip per table.
        metadata.reflect(
            connection, schema=None if schema == default_schema else schema
        )
        reflected.update(  # a foreign key may have brought another schema's table
            {
                (table.schema or default_schema, table.name): table
                for table in metadata.tables.values()
            }
        )
    for (schema, name), table in reflected.items():
        _judge(
            found,
            scope,
            table,
            schema=schema,
            default_schema=default_schema,
            other=models.get((schema, name)),
            reflected=True,
        )
    if scope.include_object is not None:
        for (schema, name), table in models.items():
            _judge(
                found,
                scope,
                table,
                schema=schema,
                default_schema=default_schema,
                other=reflected.get((schema, name)),
                reflected=False,
            )
    return Excluded({kind: frozenset(keys) for kind, keys in found.items()})


def _judge(
    found: dict[str, set[str]],
    scope: ModelsScope,
    table: sa.Table,
    *,
    schema: str,
    default_schema: str,
    other: sa.Table | None,
    reflected: bool,
) -> None:
    """Record the table, or its columns, indexes and constraints, env.py leaves out.

    Alembic calls ``include_name`` for the database's objects only, and
    ``include_object`` for both sides (``reflected`` says which, ``compare_to``
    is the other side's table); the schema is None for the default one.
    """
    alembic_schema = None if schema == default_schema else schema
    name = table.name
    key = f"{quote_identifier(schema)}.{quote_identifier(name)}"
    names = scope.include_name if reflected else None
    if (
        names is not None and not names(name, "table", {"schema_name": alembic_schema})
    ) or (
        scope.include_object is not None
        and not scope.include_object(table, name, "table", reflected, other)
    ):
        found.setdefault("tables", set()).add(key)
        return
    parents = {
        "schema_name": alembic_schema,
        "table_name": name,
        "schema_qualified_table_name": (
            f"{alembic_schema}.{name}" if alembic_schema else name
        ),
    }

    def included(obj: Any, obj_name: str, type_: str) -> bool:
        if names is not None and not names(obj_name, type_, dict(parents)):
            return False
        return scope.include_object is None or bool(
            scope.include_object(obj, obj_name, type_, reflected, None)
        )

    for column in table.columns:
        if not included(column, column.name, "column"):
            found.setdefault("columns", set()).add(
                f"{key}.{quote_identifier(column.name)}"
            )
    for index in table.indexes:
        if isinstance(index.name, str) and not included(index, index.name, "index"):
            found.setdefault("indexes", set()).add(
                f"{quote_identifier(schema)}.{quote_identifier(index.name)}"
            )
    for constraint in table.constraints:
        type_ = _constraint_type(constraint)
        if (
            type_ is not None
            and isinstance(constraint.name, str)
            and not included(constraint, constraint.name, type_)
        ):
            found.setdefault("constraints", set()).add(
                f"{key}.{quote_identifier(constraint.name)}"
            )


def _constraint_type(constraint: sa.Constraint) -> str | None:
    if isinstance(constraint, sa.UniqueConstraint):
        return "unique_constraint"
    if isinstance(constraint, sa.ForeignKeyConstraint):
        return "foreign_key_constraint"
    return None


# ------------------------------------------------------------------ cutting


def comparable_pair(
    head: CatalogSnapshot,
    models: CatalogSnapshot,
    *,
    excluded: Excluded,
    database_only: Sequence[str],
) -> tuple[CatalogSnapshot, CatalogSnapshot]:
    """Both catalogs cut down to what the models check compares (see the module)."""
    database, built = _model_kinds(head), _model_kinds(models)
    declared = set(database_only)
    for objects in (database, built):
        _drop_excluded(objects, excluded)
        _drop_declared(objects, declared)
    for kind, in_use in (("types", _types_in_use), ("sequences", _sequences_in_use)):
        used = in_use(database)
        found = database.get(kind, {})
        for key in [k for k in found if k not in used and k not in built.get(kind, {})]:
            del found[key]
    return CatalogSnapshot(database), CatalogSnapshot(built)


def _model_kinds(snapshot: CatalogSnapshot) -> Objects:
    objects: Objects = {
        kind: {key: dict(attrs) for key, attrs in found.items()}
        for kind, found in snapshot.objects.items()
        if kind in _MODEL_KINDS
    }
    objects["comments"] = {
        key: attrs
        for key, attrs in objects.get("comments", {}).items()
        if key.startswith(_MODEL_COMMENTS)
    }
    for attrs in objects.get("tables", {}).values():
        for name in _DATABASE_ONLY_TABLE_ATTRS:
            attrs.pop(name, None)
    return objects


def _drop_excluded(objects: Objects, excluded: Excluded) -> None:
    tables = excluded.keys.get("tables", frozenset())
    for kind, found in objects.items():
        for key in list(found):
            if (kind, key) in excluded or any(
                _part_of(kind, key, found[key], table) for table in tables
            ):
                del found[key]


def _drop_declared(objects: Objects, declared: set[str]) -> None:
    if not declared:
        return
    tables = [
        key
        for key, attrs in objects.get("tables", {}).items()
        if _names(CatalogObject(kind="tables", key=key, attrs=attrs)) & declared
    ]
    for kind, found in objects.items():
        for key in list(found):
            obj = CatalogObject(kind=kind, key=key, attrs=found[key])
            if _names(obj) & declared or any(
                _part_of(kind, key, found[key], table) for table in tables
            ):
                del found[key]


def _names(obj: CatalogObject) -> set[str]:
    """How a project may name the object: as the report does, or by key alone."""
    return {obj.key, obj.label, f"{KIND_BY_NAME[obj.kind].noun} {obj.key}"}


def _part_of(kind: str, key: str, attrs: Mapping[str, Any], table: str) -> bool:
    """Whether the object goes with ``table`` (its column, index, comment...)."""
    if kind in _TABLE_PARTS:
        return key.startswith(table + ".")
    if kind == "indexes":
        definition = str(attrs.get("definition", ""))
        return f" ON {table} " in definition or f" ON ONLY {table} " in definition
    if kind == "sequences":
        return str(attrs.get("owned by", "")).startswith(table + ".")
    if kind == "comments":
        return key in (f"table {table}",) or key.startswith(f"column {table}.")
    return False


def _types_in_use(objects: Objects) -> set[str]:
    """Type keys a column (or a domain, or a composite type) of the database uses."""
    spelled = [
        str(attrs.get("type", "")) for attrs in objects.get("columns", {}).values()
    ]
    for attrs in objects.get("types", {}).values():
        spelled.append(str(attrs.get("base type", "")))
        spelled += [str(a).split(" ", 1)[-1] for a in attrs.get("attributes", [])]
    used = {text.removesuffix("[]").removesuffix("[]") for text in spelled}
    return {
        key
        for key in objects.get("types", {})
        if key in used or key.split(".", 1)[-1] in used
    }


def _sequences_in_use(objects: Objects) -> set[str]:
    """Sequences a column owns, or whose name a column's default mentions."""
    defaults = " ".join(
        str(attrs.get("default", "")) for attrs in objects.get("columns", {}).values()
    )
    return {
        key
        for key, attrs in objects.get("sequences", {}).items()
        if attrs.get("owned by") or key.split(".", 1)[-1] in defaults
    }
