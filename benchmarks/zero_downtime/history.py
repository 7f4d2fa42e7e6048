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


@dataclass(frozen=True)
class Pairing:
    """Which revisions the two histories apply, and which cannot be compared."""

    safe: list[RevisionInfo]
    naive: list[RevisionInfo]
    skipped: list[str]
    """One sentence per project revision without a naive twin."""


def pair_revisions(
    safe: list[RevisionInfo], naive: list[RevisionInfo], *, naive_dir: Path
) -> Pairing:
    """Pair the project's revisions with their naive twins (the same revision id).

    Revisions added to the project after the naive history was written have no
    twin: they are left out and named, so the benchmark still compares the rest.
    The naive history must not hold a revision the project lacks, and the twins
    must come in the same order.
    """
    safe_ids = [r.revision for r in safe]
    naive_ids = [r.revision for r in naive]
    strangers = [rev for rev in naive_ids if rev not in safe_ids]
    if strangers:
        raise MigrationKitError(
            f"{naive_dir} has revision(s) {strangers} that the project does not "
            "have; each naive revision must be the twin (same id) of a project "
            "revision. Remove them or give them the project's ids."
        )
    if [rev for rev in safe_ids if rev in naive_ids] != naive_ids:
        raise MigrationKitError(
            f"The naive revisions in {naive_dir} ({naive_ids}) are not in the "
            f"project's order ({safe_ids})."
        )
    if not naive_ids:
        raise MigrationKitError(f"{naive_dir} holds no revisions to compare with.")
    last_twin = safe_ids.index(naive_ids[-1])
    skipped: list[str] = []
    for position, info in enumerate(safe):
        if info.revision in naive_ids:
            continue
        if position > last_twin:
            skipped.append(
                f"{info.revision} ({info.title}): no naive twin; not applied"
            )
        else:
            later = next(r for r in safe_ids[position:] if r in naive_ids)
            skipped.append(
                f"{info.revision} ({info.title}): no naive twin; applied within "
                f"the step to {later}, whose figures include it"
            )
    return Pairing(
        safe=[r for r in safe if r.revision in naive_ids],
        naive=list(naive),
        skipped=skipped,
    )
