"""PostgreSQL vocabulary shared by every part of the toolkit.

SQLSTATE codes, reading the SQLSTATE and the server's message out of an exception
(wrapped by SQLAlchemy or not), durations spelled the way PostgreSQL reads them, and
identifier quoting. One place, so that a lock timeout is recognised the same way by
the retry loop, the safe operations and verification.
"""

from __future__ import annotations

from typing import Final

# SQLSTATE codes (https://www.postgresql.org/docs/current/errcodes-appendix.html).
UNIQUE_VIOLATION: Final = "23505"
CHECK_VIOLATION: Final = "23514"
FOREIGN_KEY_VIOLATION: Final = "23503"
NOT_NULL_VIOLATION: Final = "23502"
LOCK_NOT_AVAILABLE: Final = "55P03"
QUERY_CANCELED: Final = "57014"
"""Raised for ``statement_timeout`` and for a cancel request (Ctrl-C, pg_cancel)."""
INSUFFICIENT_PRIVILEGE: Final = "42501"
INVALID_AUTHORIZATION: Final = "28000"
INVALID_PASSWORD: Final = "28P01"  # noqa: S105 - a SQLSTATE, not a password
INVALID_CATALOG_NAME: Final = "3D000"
"""The database named in the connection does not exist."""
ADMIN_SHUTDOWN: Final = "57P01"
"""The server is shutting down, or the session was terminated."""
DEADLOCK_DETECTED: Final = "40P01"
UNDEFINED_TABLE: Final = "42P01"
DUPLICATE_OBJECT: Final = "42710"
DUPLICATE_COLUMN: Final = "42701"
READ_ONLY_TRANSACTION: Final = "25006"
INVALID_PARAMETER_VALUE: Final = "22023"
"""A ``SET`` (or ``set_config``) value PostgreSQL refuses, e.g. out of range."""

AUTHENTICATION_FAILED: Final = frozenset({INVALID_AUTHORIZATION, INVALID_PASSWORD})
CONNECTION_LOST_CLASSES: Final = ("08", "57P")
"""SQLSTATE classes meaning the session is gone: connection exceptions and
operator intervention (shutdown, terminated backend)."""

MAX_IDENTIFIER_BYTES: Final = 63


def sqlstate_of(exc: BaseException) -> str | None:
    """The PostgreSQL SQLSTATE behind ``exc`` (wrapped by SQLAlchemy or not).

    Follows SQLAlchemy's ``.orig`` and explicit ``raise ... from`` causes only: an
    error that merely happened while another was being handled is not that error.
    """
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        state = getattr(current, "sqlstate", None)
        if isinstance(state, str):
            return state
        orig = getattr(current, "orig", None)
        current = orig if isinstance(orig, BaseException) else current.__cause__
    return None


def driver_error(exc: BaseException) -> BaseException:
    """The driver's exception inside a SQLAlchemy wrapper (or ``exc`` itself)."""
    orig = getattr(exc, "orig", None)
    return orig if isinstance(orig, BaseException) else exc


def server_message(exc: BaseException) -> str:
    """The server's one-line message, plus its DETAIL when it has one.

    Never the SQL statement or its parameters, which SQLAlchemy appends to its own
    message and which may hold data that is nobody's business in a log.
    """
    orig = driver_error(exc)
    diag = getattr(orig, "diag", None)
    lines = str(orig).strip().splitlines()
    primary = getattr(diag, "message_primary", None) or (lines[0] if lines else "")
    detail = getattr(diag, "message_detail", None)
    return f"{primary}: {detail}" if detail else str(primary or type(orig).__name__)


def format_duration(seconds: float) -> str:
    """PostgreSQL's spelling of a duration in whole milliseconds (``0`` is off)."""
    return f"{round(seconds * 1000)}ms"


def quote_identifier(name: str) -> str:
    """``name`` as a PostgreSQL identifier, quoted only where it must be."""
    if name and (name[0].isalpha() or name[0] == "_") and name.isascii():
        plain = all(ch.isalnum() or ch == "_" for ch in name)
        if plain and name == name.lower() and name.upper() not in _RESERVED:
            return name
    return '"' + name.replace('"', '""') + '"'


_RESERVED = frozenset(
    [
        "ALL",
        "ANALYSE",
        "ANALYZE",
        "AND",
        "ANY",
        "ARRAY",
        "AS",
        "ASC",
        "ASYMMETRIC",
        "AUTHORIZATION",
        "BINARY",
        "BOTH",
        "CASE",
        "CAST",
        "CHECK",
        "COLLATE",
        "COLLATION",
        "COLUMN",
        "CONCURRENTLY",
        "CONSTRAINT",
        "CREATE",
        "CROSS",
        "CURRENT_CATALOG",
        "CURRENT_DATE",
        "CURRENT_ROLE",
        "CURRENT_SCHEMA",
        "CURRENT_TIME",
        "CURRENT_TIMESTAMP",
        "CURRENT_USER",
        "DEFAULT",
        "DEFERRABLE",
        "DESC",
        "DISTINCT",
        "DO",
        "ELSE",
        "END",
        "EXCEPT",
        "FALSE",
        "FETCH",
        "FOR",
        "FOREIGN",
        "FREEZE",
        "FROM",
        "FULL",
        "GRANT",
        "GROUP",
        "HAVING",
        "ILIKE",
        "IN",
        "INITIALLY",
        "INNER",
        "INTERSECT",
        "INTO",
        "IS",
        "ISNULL",
        "JOIN",
        "LATERAL",
        "LEADING",
        "LEFT",
        "LIKE",
        "LIMIT",
        "LOCALTIME",
        "LOCALTIMESTAMP",
        "NATURAL",
        "NOT",
        "NOTNULL",
        "NULL",
        "OFFSET",
        "ON",
        "ONLY",
        "OR",
        "ORDER",
        "OUTER",
        "OVERLAPS",
        "PLACING",
        "PRIMARY",
        "REFERENCES",
        "RETURNING",
        "RIGHT",
        "SELECT",
        "SESSION_USER",
        "SIMILAR",
        "SOME",
        "SYMMETRIC",
        "SYSTEM_USER",
        "TABLE",
        "TABLESAMPLE",
        "THEN",
        "TO",
        "TRAILING",
        "TRUE",
        "UNION",
        "UNIQUE",
        "USER",
        "USING",
        "VARIADIC",
        "VERBOSE",
        "WHEN",
        "WHERE",
        "WINDOW",
        "WITH",
    ]
)


def qualified_name(name: str, *, schema: str | None) -> str:
    """``schema.name`` quoted, or just ``name`` when no schema is given."""
    quoted = quote_identifier(name)
    return f"{quote_identifier(schema)}.{quoted}" if schema else quoted
