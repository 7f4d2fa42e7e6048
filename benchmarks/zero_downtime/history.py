"""The two histories the benchmark compares, read from their Alembic scripts.

Both run under the project's own ``env.py`` and alembic.ini: the safe history
from the project's ``versions/``, the naive one from another folder given as
``version_locations``. They must list the same revision ids in the same order,
or there is nothing to compare side by side.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from alembic.config import Config
from alembic.script import ScriptDirectory
from alembic.util import CommandError

from migrationkit.errors import MigrationKitError


@dataclass(frozen=True, kw_only=True)
class HistorySpec:
    """One history to benchmark and how its migrations are run."""

    name: str
    versions: Path | None
    """Folder of revisions, or None for the project's own ``versions/``."""
    env: dict[str, str] = field(default_factory=dict)
    """Extra environment for the migration process (e.g. guards switched off)."""
    x_args: list[str] = field(default_factory=list)
    """``-x key=value`` arguments for env.py."""


@dataclass(frozen=True)
class RevisionInfo:
    revision: str
    title: str


def history_config(*, ini: Path, versions: Path | None) -> Config:
    config = Config(str(ini))
    if versions is not None:
        config.set_main_option("version_locations", str(versions).replace("%", "%%"))
    return config


def list_revisions(*, ini: Path, versions: Path | None) -> list[RevisionInfo]:
    """Revisions from base to the single head, oldest first."""
    where = versions if versions is not None else ini.parent / "alembic" / "versions"
    try:
        script = ScriptDirectory.from_config(history_config(ini=ini, versions=versions))
        heads = script.get_heads()
        if len(heads) != 1:
            raise MigrationKitError(
                f"The revisions in {where} have {len(heads)} heads ({heads}); the "
                "benchmark applies one straight line of revisions. Merge the heads."
            )
        scripts = list(script.walk_revisions("base", heads[0]))
    except CommandError as exc:
        if isinstance(exc, MigrationKitError):
            raise
        raise MigrationKitError(
            f"Cannot read the revisions in {where}: {exc}"
        ) from None
    scripts.reverse()
    return [
        RevisionInfo(s.revision, s.doc.splitlines()[0] if s.doc else "")
        for s in scripts
    ]


def check_same_revisions(
    safe: list[RevisionInfo], naive: list[RevisionInfo], *, naive_dir: Path
) -> None:
    safe_ids = [r.revision for r in safe]
    naive_ids = [r.revision for r in naive]
    if safe_ids != naive_ids:
        raise MigrationKitError(
            "The naive history must mirror the project's revisions one for one, "
            f"but the project has {safe_ids} and {naive_dir} has {naive_ids}. "
            "Add (or remove) the naive equivalents so both lists match."
        )
