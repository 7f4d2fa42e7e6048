"""The service's configuration, read from the environment once, in ``main.py``.

The database settings are migrationkit's (``DATABASE_URL``, the embedded server,
``MIGRATIONKIT_CONNECT_TIMEOUT`` and ``MIGRATIONKIT_CONNECT_WAIT``), so the
service finds the same database as ``alembic upgrade head`` did. ``PORT`` is the
variable platforms such as Cloud Run, Heroku and Render set.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from migrationkit import MigrationKitError, Settings

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000


def parse_port(raw: str, *, name: str) -> int:
    """A TCP port 1-65535, or a message saying what was expected."""
    text = raw.strip()
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise MigrationKitError(f"{name}={raw!r} is not a TCP port (1-65535).")
    return int(text)


@dataclass(frozen=True, kw_only=True)
class ServiceSettings:
    """Where the service listens, and where its database is."""

    database: Settings = field(default_factory=Settings)
    host: str = DEFAULT_HOST
    """Loopback by default: ``--host 0.0.0.0`` (the container's command) opens it."""
    port: int = DEFAULT_PORT
    """``PORT``, else 8000; ``--port`` wins over both."""

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> ServiceSettings:
        env = os.environ if environ is None else environ
        port = env.get("PORT", "").strip()
        return cls(
            database=Settings.from_environ(env),
            port=parse_port(port, name="PORT") if port else DEFAULT_PORT,
        )
