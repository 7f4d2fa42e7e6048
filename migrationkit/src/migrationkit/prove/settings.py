"""``[tool.migrationkit.prove]`` in the project's pyproject.toml: declared exceptions.

::

    [tool.migrationkit.prove]
    irreversible = { "3f2a..." = "drops the legacy table; restored from backup" }
    minimum_downgrade_revision = "cccc..."   # no round trip at or below it
    skip_revisions = ["bbbb..."]             # stamped, never run
    setup = ["CREATE SCHEMA billing", "CREATE EXTENSION IF NOT EXISTS citext"]
    database_only = ["enum type public.job_state"]  # not the models' to declare

Every key is optional; every exception shows in the report as a skip that was
asked for, with its reason. ``minimum_downgrade_revision`` and
``skip_revisions`` mean what they mean for pytest-alembic. ``setup`` runs on each
new scratch database before the first revision: the prerequisites a project's
real database has before its history starts (schemas, extensions, roles'
objects). ``database_only`` names objects the models check leaves out (see
``migrationkit.prove.models_scope``). A downgrade that raises
``NotImplementedError`` is irreversible by itself, without a declaration.
Unknown keys are refused, so a typo does not silently prove with the defaults.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from alembic.config import Config

from migrationkit.database import project_dir
from migrationkit.errors import MigrationKitError
from migrationkit.pyproject import tool_section

_KEYS = {
    "irreversible",
    "minimum_downgrade_revision",
    "skip_revisions",
    "setup",
    "database_only",
}


@dataclass(frozen=True, kw_only=True)
class ProveSettings:
    irreversible: dict[str, str] = field(default_factory=dict)
    """Revision -> why its downgrade is not proven."""
    minimum_downgrade_revision: str | None = None
    skip_revisions: tuple[str, ...] = ()
    setup: tuple[str, ...] = ()
    database_only: tuple[str, ...] = ()
    """Objects the models check leaves out, named as its report names them."""
    source: Path | None = None

    def declared(self) -> set[str]:
        named = set(self.irreversible) | set(self.skip_revisions)
        if self.minimum_downgrade_revision:
            named.add(self.minimum_downgrade_revision)
        return named


def load_prove_settings(config: Config | None) -> ProveSettings:
    """The project's prove settings, from the pyproject.toml at or above alembic.ini."""
    path, table = tool_section(project_dir(config), "prove")
    if path is None or table is None:
        return ProveSettings(source=path)
    return _parse(table, path=path)


def _parse(table: Any, *, path: Path) -> ProveSettings:
    where = f"[tool.migrationkit.prove] in {path}"
    if not isinstance(table, dict):
        raise MigrationKitError(f"{where} must be a table.")
    unknown = sorted(set(table) - _KEYS)
    if unknown:
        raise MigrationKitError(
            f"{where} has unknown key(s) {', '.join(unknown)}; known keys: "
            f"{', '.join(sorted(_KEYS))}."
        )
    irreversible = table.get("irreversible", {})
    if isinstance(irreversible, list):
        irreversible = {str(r): "declared irreversible" for r in irreversible}
    if not isinstance(irreversible, dict):
        raise MigrationKitError(
            f"{where}: irreversible maps each revision to why its downgrade is not "
            'proven, as in irreversible = { "abc123" = "why" }.'
        )
    minimum = table.get("minimum_downgrade_revision")
    return ProveSettings(
        irreversible={str(k): str(v) for k, v in irreversible.items()},
        minimum_downgrade_revision=None if minimum is None else str(minimum),
        skip_revisions=_strings(table, "skip_revisions", where=where),
        setup=_strings(table, "setup", where=where),
        database_only=_strings(table, "database_only", where=where),
        source=path,
    )


def _strings(table: dict[str, Any], key: str, *, where: str) -> tuple[str, ...]:
    value = table.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise MigrationKitError(f"{where}: {key} must be a list of strings.")
    return tuple(value)
