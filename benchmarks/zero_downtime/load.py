"""The benchmark's data: the same rows for both histories, made by the server.

Rows are generated with ``INSERT ... SELECT ... FROM generate_series`` in chunks
(one round trip and one commit per chunk, no data crossing the wire), so ten
million users load in minutes. Every value is a function of the row number ``n``,
so the safe and the naive history start from identical tables, and the workload can
compute an existing user's id or e-mail without asking the database.

The data is shaped to exercise the history: every 50th e-mail repeats the local
part of the one before it (in capitals, on another domain), so the username
backfill must resolve duplicates; a few login IP strings are not addresses at all,
so the text -> inet change must cope with them.
"""

from __future__ import annotations

import hashlib
import uuid
from typing import Any

import psycopg
from psycopg import sql

from migrationkit.progress import Progress

DUPLICATE_EVERY = 50
"""Every 50th user's e-mail local part duplicates its predecessor's."""

INVALID_IP_EVERY = 997
"""Every 997th login event holds a string that is not an IP address."""

NULL_IP_EVERY = 1009
"""Every 1009th login event has no IP address at all."""

_USERS_SQL = sql.SQL(
    """
    INSERT INTO users (id, email, first_name, is_active, created_at)
    SELECT md5('bench-user-' || n)::uuid,
           CASE WHEN n % {dup} = 0
                THEN 'User' || (n - 1) || '@example.org'
                ELSE 'user' || n || '@example.com' END,
           CASE WHEN n % 10 = 0 THEN NULL ELSE 'First' || (n % 1000) END,
           n % 20 <> 0,
           timestamptz '2024-01-01 00:00:00+00' + n * interval '1 second'
      FROM generate_series({lo}::bigint, {hi}::bigint) AS n
    """
)

_EVENTS_SQL = sql.SQL(
    """
    INSERT INTO login_events (user_id, occurred_at, ip_address)
    SELECT md5('bench-user-' || (1 + (n * 7919) % {users}))::uuid,
           timestamptz '2025-01-01 00:00:00+00' + n * interval '1 second',
           CASE WHEN n % {bad} = 0 THEN 'not-an-ip-' || n
                WHEN n % {null} = 0 THEN NULL
                ELSE '10.' || (n / 65536 % 256) || '.' || (n / 256 % 256)
                     || '.' || (n % 256) END
      FROM generate_series({lo}::bigint, {hi}::bigint) AS n
    """
)


def user_id(n: int) -> uuid.UUID:
    """The id of user number ``n`` (1-based), as the load computed it."""
    return uuid.UUID(hashlib.md5(f"bench-user-{n}".encode()).hexdigest())  # noqa: S324


def user_email(n: int) -> str:
    """The e-mail of user number ``n`` (1-based), as the load computed it."""
    if n % DUPLICATE_EVERY == 0:
        return f"User{n - 1}@example.org"
    return f"user{n}@example.com"


def _load_chunks(
    conn: psycopg.Connection[tuple[Any, ...]],
    *,
    statement: sql.SQL,
    total: int,
    chunk: int,
    progress: Progress,
    params: dict[str, sql.Composable],
) -> None:
    for lo in range(1, total + 1, chunk):
        hi = min(total, lo + chunk - 1)
        query = statement.format(lo=sql.Literal(lo), hi=sql.Literal(hi), **params)
        with conn.transaction():
            conn.execute(query)
        progress.advance(hi - lo + 1)
    progress.finish()


def load_users(
    conn: psycopg.Connection[tuple[Any, ...]], *, rows: int, chunk: int, label: str
) -> None:
    """Fill ``users`` (as created by revision 001) with ``rows`` users."""
    progress = Progress(label=f"{label}: loading users", total=rows)
    _load_chunks(
        conn,
        statement=_USERS_SQL,
        total=rows,
        chunk=chunk,
        progress=progress,
        params={"dup": sql.Literal(DUPLICATE_EVERY)},
    )
    vacuum_analyze(conn, table="users")


def load_login_events(
    conn: psycopg.Connection[tuple[Any, ...]],
    *,
    rows: int,
    users: int,
    chunk: int,
    label: str,
) -> None:
    """Fill ``login_events`` (as its creating revision left it, ``ip_address`` text)."""
    progress = Progress(label=f"{label}: loading login_events", total=rows)
    _load_chunks(
        conn,
        statement=_EVENTS_SQL,
        total=rows,
        chunk=chunk,
        progress=progress,
        params={
            "users": sql.Literal(users),
            "bad": sql.Literal(INVALID_IP_EVERY),
            "null": sql.Literal(NULL_IP_EVERY),
        },
    )
    vacuum_analyze(conn, table="login_events")


def vacuum_analyze(conn: psycopg.Connection[tuple[Any, ...]], *, table: str) -> None:
    """Set the hint bits and statistics a production table would have: without it
    the first scan of each revision pays for writing them, in one history only."""
    conn.execute(sql.SQL("VACUUM ANALYZE {}").format(sql.Identifier(table)))


def table_exists(conn: psycopg.Connection[tuple[Any, ...]], table: str) -> bool:
    row = conn.execute("SELECT to_regclass(%s) IS NOT NULL", (table,)).fetchone()
    return bool(row and row[0])
