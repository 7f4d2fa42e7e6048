"""Configuration enters here, once.

Entry points build one ``Settings`` from the process environment and hand it down;
nothing else in the project reads ``os.environ``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from migrationkit.errors import MigrationKitError


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


@dataclass(frozen=True, kw_only=True)
class Settings:
    """Everything the environment may say about where and how to migrate."""

    database_url: str | None = None
    """``DATABASE_URL``: the database to use; wins over alembic.ini."""

    pgdata: Path | None = None
    """``MIGRATIONKIT_PGDATA``: where the embedded server keeps its files
    (default: ``.pgdata`` beside alembic.ini)."""

    connect_timeout: float = 10.0
    """``MIGRATIONKIT_CONNECT_TIMEOUT``: seconds to wait for a server to answer."""

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        url = env.get("DATABASE_URL")
        pgdata = env.get("MIGRATIONKIT_PGDATA")
        return cls(
            database_url=url if url and url.strip() else None,
            pgdata=Path(pgdata).expanduser() if pgdata else None,
            connect_timeout=_float_setting(env, "MIGRATIONKIT_CONNECT_TIMEOUT", 10.0),
        )
