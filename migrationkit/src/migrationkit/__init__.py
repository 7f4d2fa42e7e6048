"""Reusable machinery for safe Alembic migrations on PostgreSQL.

Everything here works on any Alembic project given its ``alembic.config.Config``.
A project adopts it with one call in its ``env.py``::

    from migrationkit import run_migrations

    run_migrations(context, target_metadata=Base.metadata)

The public API is what this package exports (below, and ``__all__``), what each
public subpackage exports in its own ``__all__`` (``migrationkit.ops``,
``.verify``, ``.prove``, ``.lint``, ``.testing``), the verbs of
``migrationkit.command`` and the SQLSTATE vocabulary of ``migrationkit.pg``
(docs/api.md lists them). Other modules are internal and may change.

The names are loaded on first use, so ``import migrationkit.errors`` (or an
application that needs only ``Settings``) does not load Alembic's runtime.
"""

from __future__ import annotations

from importlib import import_module
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING, Any

try:
    __version__ = version("migrationkit")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0+unknown"

if TYPE_CHECKING:
    from migrationkit.command import load_config
    from migrationkit.database import (
        ConnectionPool,
        DatabaseTarget,
        create_engine,
        resolve_application_database,
        resolve_database,
    )
    from migrationkit.errors import MigrationKitError
    from migrationkit.exits import report_failures
    from migrationkit.hosted import wait_for_server
    from migrationkit.masking import Secret, mask_secrets
    from migrationkit.runtime import run_migrations
    from migrationkit.settings import Settings
    from migrationkit.verify.script import verify_main

_EXPORTS = {
    "ConnectionPool": "migrationkit.database",
    "DatabaseTarget": "migrationkit.database",
    "MigrationKitError": "migrationkit.errors",
    "Secret": "migrationkit.masking",
    "Settings": "migrationkit.settings",
    "create_engine": "migrationkit.database",
    "load_config": "migrationkit.command",
    "mask_secrets": "migrationkit.masking",
    "report_failures": "migrationkit.exits",
    "resolve_application_database": "migrationkit.database",
    "resolve_database": "migrationkit.database",
    "run_migrations": "migrationkit.runtime",
    "verify_main": "migrationkit.verify.script",
    "wait_for_server": "migrationkit.hosted",
}

__all__ = [
    "ConnectionPool",
    "DatabaseTarget",
    "MigrationKitError",
    "Secret",
    "Settings",
    "__version__",
    "create_engine",
    "load_config",
    "mask_secrets",
    "report_failures",
    "resolve_application_database",
    "resolve_database",
    "run_migrations",
    "verify_main",
    "wait_for_server",
]


def __getattr__(name: str) -> Any:
    """Load an exported name from its module the first time it is asked for."""
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'migrationkit' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value
    return value
