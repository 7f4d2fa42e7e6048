"""Did both histories arrive at the same schema? Asked of PostgreSQL's catalogs.

A benchmark comparing a safe and a naive history is only fair if both end in the
same place. The fingerprint lists what a query or a constraint can observe, by
name (column order is left out on purpose: the expand/contract type change adds
the new column at the end, and no correct query depends on attribute order).
"""

from __future__ import annotations

from typing import Any

import psycopg

_QUERIES: dict[str, str] = {
    "columns": """
        SELECT c.relname || '.' || a.attname || ' ' ||
               format_type(a.atttypid, a.atttypmod) ||
               CASE WHEN a.attnotnull THEN ' NOT NULL' ELSE '' END ||
               CASE WHEN a.attidentity <> '' THEN ' IDENTITY ' || a.attidentity::text
                    ELSE '' END ||
               coalesce(' DEFAULT ' || pg_get_expr(d.adbin, d.adrelid), '')
          FROM pg_attribute a
          JOIN pg_class c ON c.oid = a.attrelid
          JOIN pg_namespace n ON n.oid = c.relnamespace
          LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
         WHERE n.nspname = 'public' AND c.relkind = 'r'
           AND a.attnum > 0 AND NOT a.attisdropped
    """,
    "indexes": """
        SELECT pg_get_indexdef(i.indexrelid) ||
               CASE WHEN i.indisvalid THEN '' ELSE ' INVALID' END
          FROM pg_index i
          JOIN pg_class c ON c.oid = i.indrelid
          JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname = 'public'
    """,
    "constraints": """
        SELECT c.relname || ' ' || k.conname || ' ' ||
               pg_get_constraintdef(k.oid) ||
               CASE WHEN k.convalidated THEN '' ELSE ' NOT VALIDATED' END
          FROM pg_constraint k
          JOIN pg_class c ON c.oid = k.conrelid
          JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname = 'public' AND k.contype <> 'n'
    """,
    "triggers": """
        SELECT c.relname || ' ' || t.tgname
          FROM pg_trigger t
          JOIN pg_class c ON c.oid = t.tgrelid
          JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname = 'public' AND NOT t.tgisinternal
    """,
    "functions": """
        SELECT p.proname || '(' || pg_get_function_identity_arguments(p.oid) || ')'
          FROM pg_proc p
          JOIN pg_namespace n ON n.oid = p.pronamespace
         WHERE n.nspname = 'public'
    """,
}


def schema_fingerprint(
    conn: psycopg.Connection[tuple[Any, ...]],
) -> dict[str, list[str]]:
    """Every column, index, constraint, trigger and function in ``public``, sorted."""
    return {
        kind: sorted(str(row[0]) for row in conn.execute(query).fetchall())
        for kind, query in _QUERIES.items()
    }


def fingerprint_differences(
    left: dict[str, list[str]], right: dict[str, list[str]], *, names: tuple[str, str]
) -> list[str]:
    """Human-readable lines: what one side has and the other lacks."""
    lines: list[str] = []
    for kind in sorted(set(left) | set(right)):
        mine, theirs = set(left.get(kind, [])), set(right.get(kind, []))
        lines += [
            f"{kind}: only in {names[0]}: {item}" for item in sorted(mine - theirs)
        ]
        lines += [
            f"{kind}: only in {names[1]}: {item}" for item in sorted(theirs - mine)
        ]
    return lines
