"""What the catalog snapshot reads: one query per kind of object, as data.

Each ``ObjectKind`` names a kind, says how one object is called in messages, and
holds the single query that lists every object of that kind as ``(key, attrs)``
rows: the key a qualified name, the attributes what makes the object what it is.
What belongs to PostgreSQL (``pg_catalog``, ``information_schema``, TOAST and
temporary schemas) or to an extension is left out by every query.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import sqlalchemy as sa

_USER_SCHEMA = (
    "{name} NOT IN ('pg_catalog', 'information_schema', 'pg_toast')"
    r" AND {name} NOT LIKE 'pg\_temp\_%'"
    r" AND {name} NOT LIKE 'pg\_toast\_temp\_%'"
)
_NOT_FROM_EXTENSION = (
    "NOT EXISTS (SELECT 1 FROM pg_depend e WHERE e.classid = '{catalog}'::regclass"
    " AND e.objid = {oid} AND e.deptype = 'e')"
)


def user_objects(namespace: str, *, catalog: str, oid: str) -> str:
    """The condition: in a user schema, not installed by an extension."""
    return (
        _USER_SCHEMA.format(name=f"{namespace}.nspname")
        + " AND "
        + _NOT_FROM_EXTENSION.format(catalog=catalog, oid=oid)
    )


@dataclass(frozen=True, kw_only=True)
class ObjectKind:
    """One kind of catalog object and the single query that lists all of them."""

    name: str
    """Stable name, used as the snapshot's key: ``columns``."""
    noun: str
    """How one object is called in messages: ``column``."""
    query: str
    """Returns ``key text, attrs jsonb`` rows, nulls stripped from ``attrs``."""
    in_models: bool = True
    """Whether SQLAlchemy models can declare this kind (compared with the models)."""


_RELATION = (
    " FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE "
    + user_objects("n", catalog="pg_class", oid="c.oid")
)

KINDS: tuple[ObjectKind, ...] = (
    ObjectKind(
        name="schemas",
        noun="schema",
        query=(
            "SELECT quote_ident(n.nspname) AS key, '{}'::jsonb AS attrs"
            " FROM pg_namespace n WHERE "
            + user_objects("n", catalog="pg_namespace", oid="n.oid")
        ),
    ),
    ObjectKind(
        name="extensions",
        noun="extension",
        query=(
            "SELECT quote_ident(x.extname) AS key, jsonb_build_object("
            " 'version', x.extversion, 'schema', n.nspname) AS attrs"
            " FROM pg_extension x JOIN pg_namespace n ON n.oid = x.extnamespace"
            " WHERE x.extname <> 'plpgsql'"
        ),
        in_models=False,
    ),
    ObjectKind(
        name="tables",
        noun="table",
        query=(
            "SELECT format('%I.%I', n.nspname, c.relname) AS key,"
            " jsonb_strip_nulls(jsonb_build_object("
            "  'kind', CASE c.relkind WHEN 'p' THEN 'partitioned table'"
            "   WHEN 'f' THEN 'foreign table' ELSE 'table' END,"
            "  'persistence', CASE c.relpersistence WHEN 'u' THEN 'unlogged'"
            "   ELSE 'logged' END,"
            "  'row security', NULLIF(c.relrowsecurity, false),"
            "  'forced row security', NULLIF(c.relforcerowsecurity, false),"
            "  'options', c.reloptions,"
            "  'partition key', CASE WHEN c.relkind = 'p'"
            "   THEN pg_get_partkeydef(c.oid) END,"
            "  'partition bound', pg_get_expr(c.relpartbound, c.oid),"
            "  'inherits', (SELECT jsonb_agg(i.inhparent::regclass::text"
            "   ORDER BY i.inhseqno) FROM pg_inherits i WHERE i.inhrelid = c.oid)"
            " )) AS attrs" + _RELATION + " AND c.relkind IN ('r', 'p', 'f')"
        ),
    ),
    ObjectKind(
        name="columns",
        noun="column",
        query=(
            "SELECT format('%I.%I.%I', n.nspname, c.relname, a.attname) AS key,"
            " jsonb_strip_nulls(jsonb_build_object("
            "  'type', format_type(a.atttypid, a.atttypmod),"
            "  'nullable', NOT a.attnotnull,"
            "  'default', CASE WHEN a.attgenerated = ''"
            "   THEN pg_get_expr(d.adbin, d.adrelid) END,"
            "  'generated', CASE WHEN a.attgenerated <> ''"
            "   THEN pg_get_expr(d.adbin, d.adrelid) END,"
            "  'identity', CASE a.attidentity WHEN 'a' THEN 'always'"
            "   WHEN 'd' THEN 'by default' END,"
            "  'collation', CASE WHEN a.attcollation <> 0"
            "   THEN (SELECT collname FROM pg_collation"
            "         WHERE oid = a.attcollation) END"
            " )) AS attrs"
            " FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid"
            " JOIN pg_namespace n ON n.oid = c.relnamespace"
            " LEFT JOIN pg_attrdef d"
            "  ON d.adrelid = a.attrelid AND d.adnum = a.attnum"
            " WHERE a.attnum > 0 AND NOT a.attisdropped"
            " AND c.relkind IN ('r', 'p', 'f') AND "
            + user_objects("n", catalog="pg_class", oid="c.oid")
        ),
    ),
    # PostgreSQL 18 lists NOT NULL as constraints, named after the table they
    # were created in (a renamed table keeps the old names). A downgrade that
    # recreates the table gets new names for the same NOT NULLs, so they are
    # keyed by their column, not their name: public.t.(NOT NULL col).
    ObjectKind(
        name="constraints",
        noun="constraint",
        query=(
            "SELECT CASE WHEN k.contype = 'n'"
            "  THEN format('%I.%I.(%s)', n.nspname, c.relname,"
            "   pg_get_constraintdef(k.oid))"
            "  ELSE format('%I.%I.%I', n.nspname, c.relname, k.conname) END AS key,"
            " jsonb_build_object("
            "  'type', CASE k.contype WHEN 'p' THEN 'primary key'"
            "   WHEN 'u' THEN 'unique' WHEN 'f' THEN 'foreign key'"
            "   WHEN 'c' THEN 'check' WHEN 'x' THEN 'exclusion'"
            "   WHEN 'n' THEN 'not null' ELSE k.contype::text END,"
            "  'definition', pg_get_constraintdef(k.oid),"
            "  'valid', k.convalidated) AS attrs"
            " FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid"
            " JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE k.contype <> 't' AND "
            + user_objects("n", catalog="pg_class", oid="c.oid")
        ),
    ),
    ObjectKind(
        name="indexes",
        noun="index",
        query=(
            "SELECT format('%I.%I', n.nspname, c.relname) AS key,"
            " jsonb_build_object('definition', pg_get_indexdef(i.indexrelid),"
            "  'valid', i.indisvalid) AS attrs"
            " FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid"
            " JOIN pg_namespace n ON n.oid = c.relnamespace WHERE "
            + user_objects("n", catalog="pg_class", oid="i.indrelid")
        ),
    ),
    ObjectKind(
        name="sequences",
        noun="sequence",
        query=(
            "SELECT format('%I.%I', n.nspname, c.relname) AS key,"
            " jsonb_strip_nulls(jsonb_build_object("
            "  'type', format_type(s.seqtypid, NULL), 'start', s.seqstart,"
            "  'increment', s.seqincrement, 'min', s.seqmin, 'max', s.seqmax,"
            "  'cache', s.seqcache, 'cycle', s.seqcycle,"
            "  'owned by', (SELECT format('%I.%I.%I', tn.nspname, t.relname,"
            "   a.attname) || CASE d.deptype WHEN 'i' THEN ' (identity)' ELSE '' END"
            "   FROM pg_depend d JOIN pg_attribute a"
            "    ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid"
            "   JOIN pg_class t ON t.oid = d.refobjid"
            "   JOIN pg_namespace tn ON tn.oid = t.relnamespace"
            "   WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid"
            "   AND d.refclassid = 'pg_class'::regclass"
            "   AND d.deptype IN ('a', 'i') LIMIT 1)"
            " )) AS attrs"
            " FROM pg_sequence s JOIN pg_class c ON c.oid = s.seqrelid"
            " JOIN pg_namespace n ON n.oid = c.relnamespace WHERE "
            + user_objects("n", catalog="pg_class", oid="c.oid")
        ),
    ),
    ObjectKind(
        name="types",
        noun="type",
        query=(
            "SELECT format('%I.%I', n.nspname, t.typname) AS key,"
            " jsonb_strip_nulls(jsonb_build_object("
            "  'kind', CASE t.typtype WHEN 'e' THEN 'enum' WHEN 'd' THEN 'domain'"
            "   WHEN 'c' THEN 'composite' WHEN 'r' THEN 'range'"
            "   ELSE t.typtype::text END,"
            "  'values', CASE WHEN t.typtype = 'e' THEN (SELECT jsonb_agg("
            "   e.enumlabel ORDER BY e.enumsortorder) FROM pg_enum e"
            "   WHERE e.enumtypid = t.oid) END,"
            "  'base type', CASE WHEN t.typtype = 'd'"
            "   THEN format_type(t.typbasetype, t.typtypmod) END,"
            "  'default', t.typdefault,"
            "  'not null', CASE WHEN t.typtype = 'd' THEN t.typnotnull END,"
            "  'checks', (SELECT jsonb_agg(pg_get_constraintdef(k.oid)"
            "   ORDER BY k.conname) FROM pg_constraint k WHERE k.contypid = t.oid),"
            "  'attributes', CASE WHEN t.typtype = 'c' THEN (SELECT jsonb_agg("
            "   format('%I %s', a.attname, format_type(a.atttypid, a.atttypmod))"
            "   ORDER BY a.attnum) FROM pg_attribute a WHERE a.attrelid = t.typrelid"
            "   AND a.attnum > 0 AND NOT a.attisdropped) END"
            " )) AS attrs"
            " FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace"
            " WHERE t.typtype IN ('e', 'd', 'c', 'r')"
            " AND (t.typtype <> 'c' OR (SELECT relkind FROM pg_class"
            "  WHERE oid = t.typrelid) = 'c') AND "
            + user_objects("n", catalog="pg_type", oid="t.oid")
        ),
    ),
    ObjectKind(
        name="views",
        noun="view",
        query=(
            "SELECT format('%I.%I', n.nspname, c.relname) AS key,"
            " jsonb_strip_nulls(jsonb_build_object("
            "  'kind', CASE c.relkind WHEN 'm' THEN 'materialized view'"
            "   ELSE 'view' END,"
            "  'definition', pg_get_viewdef(c.oid), 'options', c.reloptions,"
            "  'populated', CASE WHEN c.relkind = 'm' THEN c.relispopulated END"
            " )) AS attrs" + _RELATION + " AND c.relkind IN ('v', 'm')"
        ),
        in_models=False,
    ),
    ObjectKind(
        name="functions",
        noun="function",
        query=(
            "SELECT format('%I.%I(%s)', n.nspname, p.proname,"
            "  pg_get_function_identity_arguments(p.oid)) AS key,"
            " jsonb_strip_nulls(jsonb_build_object("
            "  'kind', CASE p.prokind WHEN 'p' THEN 'procedure'"
            "   WHEN 'a' THEN 'aggregate' WHEN 'w' THEN 'window function'"
            "   ELSE 'function' END,"
            "  'result', pg_get_function_result(p.oid),"
            "  'definition', CASE WHEN p.prokind <> 'a'"
            "   THEN pg_get_functiondef(p.oid) END"
            " )) AS attrs"
            " FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE "
            + user_objects("n", catalog="pg_proc", oid="p.oid")
        ),
        in_models=False,
    ),
    ObjectKind(
        name="triggers",
        noun="trigger",
        query=(
            "SELECT format('%I.%I.%I', n.nspname, c.relname, g.tgname) AS key,"
            " jsonb_build_object('definition', pg_get_triggerdef(g.oid),"
            "  'enabled', CASE g.tgenabled WHEN 'D' THEN 'disabled'"
            "   WHEN 'R' THEN 'replica only' WHEN 'A' THEN 'always'"
            "   ELSE 'enabled' END) AS attrs"
            " FROM pg_trigger g JOIN pg_class c ON c.oid = g.tgrelid"
            " JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE NOT g.tgisinternal AND "
            + user_objects("n", catalog="pg_class", oid="c.oid")
        ),
        in_models=False,
    ),
    ObjectKind(
        name="policies",
        noun="row security policy",
        query=(
            "SELECT format('%I.%I.%I', n.nspname, c.relname, p.polname) AS key,"
            " jsonb_strip_nulls(jsonb_build_object("
            "  'command', p.polcmd, 'permissive', p.polpermissive,"
            "  'roles', (SELECT jsonb_agg(CASE WHEN r = 0 THEN 'public'"
            "   ELSE pg_get_userbyid(r)::text END ORDER BY r)"
            "   FROM unnest(p.polroles) AS r),"
            "  'using', pg_get_expr(p.polqual, p.polrelid),"
            "  'with check', pg_get_expr(p.polwithcheck, p.polrelid)"
            " )) AS attrs"
            " FROM pg_policy p JOIN pg_class c ON c.oid = p.polrelid"
            " JOIN pg_namespace n ON n.oid = c.relnamespace WHERE "
            + user_objects("n", catalog="pg_class", oid="c.oid")
        ),
        in_models=False,
    ),
    ObjectKind(
        name="comments",
        noun="comment on",
        query=(
            # Objects created by initdb have OIDs below 16384 (FirstNormalObjectId):
            # their comments are PostgreSQL's own.
            "SELECT replace(o.type, 'table column', 'column') || ' ' || o.identity"
            " AS key,"
            " jsonb_build_object('text', d.description) AS attrs"
            " FROM pg_description d"
            " CROSS JOIN LATERAL pg_identify_object(d.classoid, d.objoid, d.objsubid)"
            "  AS o"
            " WHERE d.objoid >= 16384 AND d.classoid <> 'pg_extension'::regclass"
            " AND (o.schema IS NULL OR "
            + _USER_SCHEMA.format(name="o.schema")
            + ") AND NOT EXISTS (SELECT 1 FROM pg_depend e"
            "  WHERE e.classid = d.classoid AND e.objid = d.objoid"
            "  AND e.deptype = 'e')"
        ),
    ),
)

VERSION_ROWS = ObjectKind(
    name="version rows",
    noun="version table row",
    query="",  # built per version table, see _version_rows
    in_models=False,
)
"""The rows of the version table: the revision(s) the database says it is at."""

ALL_KINDS = sa.text(
    " UNION ALL ".join(
        f"SELECT CAST('{kind.name}' AS text) AS kind, q.key, q.attrs"
        f" FROM ({kind.query}) AS q"
        for kind in KINDS
    )
)
"""Every kind's query in one statement: one round trip, one plan per snapshot."""

KIND_BY_NAME: Mapping[str, ObjectKind] = {
    kind.name: kind for kind in (*KINDS, VERSION_ROWS)
}
