"""Configuration enters here, once.

Entry points build one ``Settings`` from the process environment and hand it down;
nothing else in the project reads ``os.environ``. Secrets arrive as ``Secret``, so
a ``Settings`` repr (in a traceback, a log, a test failure) shows ``***``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from migrationkit.errors import MigrationKitError
from migrationkit.masking import Secret


def _float_setting(environ: Mapping[str, str], name: str, default: float) -> float:
    raw = environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise MigrationKitError(
            f"{name}={raw!r} is not a number of seconds (for example {name}=5)."
        ) from None
    if value < 0:
        raise MigrationKitError(f"{name} must not be negative, got {raw!r}.")
    return value


_DURATION = re.compile(r"^\s*(?P<number>\d+(?:\.\d+)?)\s*(?P<unit>ms|s|min|h)?\s*$")
_SECONDS_PER_UNIT = {"ms": 0.001, "s": 1.0, "min": 60.0, "h": 3600.0}
MAX_DURATION_MS = 2_147_483_647
"""The largest timeout PostgreSQL accepts (INT_MAX milliseconds, about 24.8 days)."""


def parse_duration(raw: str, *, name: str) -> float:
    """Seconds from ``500ms``, ``2s``, ``10min``, ``1h`` or ``0`` (meaning none).

    A bare number other than 0 is refused: PostgreSQL reads ``lock_timeout=2000``
    as milliseconds and most people as seconds, so the unit must be written.
    PostgreSQL keeps timeouts in whole milliseconds and reads 0 as "no timeout",
    so a value that rounds to 0 ms (``0.4ms``) would silently mean *wait forever*:
    it is refused, as is anything beyond PostgreSQL's maximum. Only an explicit
    ``0`` turns a timeout off.
    """
    match = _DURATION.match(raw)
    if match is None or (match["unit"] is None and float(match["number"]) != 0):
        raise MigrationKitError(
            f"{name}={raw!r} is not a duration: write it with a unit, as in "
            f"{name}=500ms, {name}=2s or {name}=10min ({name}=0 turns it off)."
        )
    seconds = float(match["number"]) * _SECONDS_PER_UNIT[match["unit"] or "s"]
    milliseconds = round(seconds * 1000)
    if seconds and not milliseconds:
        raise MigrationKitError(
            f"{name}={raw!r} rounds to 0 ms, which PostgreSQL reads as no timeout "
            f"at all. Write at least {name}=1ms, or {name}=0 to turn it off."
        )
    if milliseconds > MAX_DURATION_MS:
        raise MigrationKitError(
            f"{name}={raw!r} is more than PostgreSQL accepts for a timeout "
            f"({MAX_DURATION_MS} ms, about 24 days). Write a shorter duration, or "
            f"{name}=0 to turn it off."
        )
    return seconds


def describe_duration(seconds: float) -> str:
    """``seconds`` the way ``parse_duration`` reads it: ``200ms``, ``2s``, ``10min``."""
    milliseconds = round(seconds * 1000)
    for unit, size in (("h", 3_600_000), ("min", 60_000), ("s", 1000)):
        if milliseconds and milliseconds % size == 0:
            return f"{milliseconds // size}{unit}"
    return f"{milliseconds}ms" if milliseconds else "0"


def _duration_setting(environ: Mapping[str, str], name: str, default: float) -> float:
    raw = environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    return parse_duration(raw, name=name)


def parse_count(raw: str, *, name: str) -> int:
    """A whole number >= 0, or a message saying what was expected."""
    if not raw.strip().isdigit():
        raise MigrationKitError(f"{name}={raw!r} is not a whole number >= 0.")
    return int(raw)


DEFAULT_DATABASE = "development"
"""The database the embedded server creates and the project uses by default."""


@dataclass(frozen=True, kw_only=True)
class Settings:
    """Everything the environment may say about where and how to migrate."""

    database_url: Secret | None = None
    """``DATABASE_URL``: the database to use; wins over alembic.ini. A ``Secret``:
    the whole URL, since one that cannot be parsed cannot be masked either."""

    libpq_password: Secret | None = None
    """``PGPASSWORD``: libpq reads it by itself when a URL has no password; kept
    here only so that every message masks it wherever it turns up."""

    database_url_direct: Secret | None = None
    """``DATABASE_URL_DIRECT``: a direct (not pooled) URL for migrations,
    verification and backups, when ``DATABASE_URL`` goes through a transaction
    pooler (Neon's ``-pooler`` host, PgBouncer); the application keeps
    ``DATABASE_URL``. Prisma calls the same idea ``directUrl``."""

    pgdata: Path | None = None
    """``MIGRATIONKIT_PGDATA``: where the embedded server keeps its files
    (default: ``.pgdata`` beside alembic.ini)."""

    connect_timeout: float = 10.0
    """``MIGRATIONKIT_CONNECT_TIMEOUT``: seconds to wait for a server to answer."""

    connect_wait: float = 30.0
    """``MIGRATIONKIT_CONNECT_WAIT``: how long to keep retrying a server that does
    not answer yet (a suspended Neon compute waking up, a database container
    still starting), as ``30s``; 0 tries once."""

    lock_timeout: float = 2.0
    """``MIGRATIONKIT_LOCK_TIMEOUT`` (``-x lock_timeout=`` wins): the longest a
    migration statement waits for a lock, as ``2s``/``500ms``; 0 waits forever."""

    statement_timeout: float = 0.0
    """``MIGRATIONKIT_STATEMENT_TIMEOUT`` (``-x statement_timeout=`` wins): the
    longest any migration statement may run, as ``10min``; 0 (default) is no limit."""

    migration_lock_timeout: float = 600.0
    """``MIGRATIONKIT_MIGRATION_LOCK_TIMEOUT`` (``-x migration_lock_timeout=`` wins):
    the longest a run waits for another run's migration lock, as ``10min`` (the
    default); 0 waits as long as it takes."""

    pooler: str = ""
    """``MIGRATIONKIT_POOLER`` (``-x pooler=`` wins): ``session`` declares that the
    migration's URL goes through a pooler in session mode (one server session per
    client), which migrationkit cannot tell from a transaction pooler by itself;
    see docs/hosting.md. Empty (default): only the server itself is trusted."""

    lock_retries: int = 5
    """``MIGRATIONKIT_LOCK_RETRIES`` (``-x lock_retries=`` wins): how many times a
    migration that timed out waiting for a lock is retried, with backoff."""

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        url = env.get("DATABASE_URL")
        direct = env.get("DATABASE_URL_DIRECT")
        libpq_password = env.get("PGPASSWORD")
        pgdata = env.get("MIGRATIONKIT_PGDATA")
        return cls(
            database_url=(
                Secret(url, remember_value=False) if url and url.strip() else None
            ),
            database_url_direct=(
                Secret(direct, remember_value=False)
                if direct and direct.strip()
                else None
            ),
            libpq_password=Secret(libpq_password) if libpq_password else None,
            pgdata=Path(pgdata).expanduser() if pgdata else None,
            connect_timeout=_float_setting(env, "MIGRATIONKIT_CONNECT_TIMEOUT", 10.0),
            connect_wait=_duration_setting(env, "MIGRATIONKIT_CONNECT_WAIT", 30.0),
            lock_timeout=_duration_setting(env, "MIGRATIONKIT_LOCK_TIMEOUT", 2.0),
            statement_timeout=_duration_setting(
                env, "MIGRATIONKIT_STATEMENT_TIMEOUT", 0.0
            ),
            migration_lock_timeout=_duration_setting(
                env, "MIGRATIONKIT_MIGRATION_LOCK_TIMEOUT", 600.0
            ),
            pooler=env.get("MIGRATIONKIT_POOLER", ""),
            lock_retries=parse_count(
                env.get("MIGRATIONKIT_LOCK_RETRIES") or "5",
                name="MIGRATIONKIT_LOCK_RETRIES",
            ),
        )
