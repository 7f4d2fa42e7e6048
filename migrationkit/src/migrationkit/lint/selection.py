"""Which revisions to lint: all, those after a revision, or those changed in git."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

from alembic.script import Script, ScriptDirectory
from alembic.util import CommandError

from migrationkit.errors import MigrationKitError

GIT_TIMEOUT = 30.0


@dataclass(frozen=True, kw_only=True)
class Selection:
    """All revisions (both None), those after ``after``, or changed since a git ref."""

    after: str | None = None
    git_ref: str | None = None

    def describe(self) -> str:
        if self.after is not None:
            return f"revisions after {self.after}"
        if self.git_ref is not None:
            return f"revisions changed since git {self.git_ref}"
        return "all revisions"


def all_revisions(script: ScriptDirectory) -> list[Script]:
    """Every revision, oldest first."""
    try:
        found = list(script.walk_revisions("base", "heads"))
    except CommandError as exc:
        raise MigrationKitError(f"Cannot read the revision history: {exc}") from exc
    found.reverse()
    return found


def select_revisions(script: ScriptDirectory, selection: Selection) -> list[Script]:
    """The revisions ``selection`` names, oldest first."""
    if selection.after is not None and selection.git_ref is not None:
        raise MigrationKitError("Give either a revision or a git ref, not both.")
    revisions = all_revisions(script)
    if selection.after is not None:
        return _after(script, revisions, selection.after)
    if selection.git_ref is not None:
        return _changed_since(script, revisions, selection.git_ref)
    return revisions


def _after(
    script: ScriptDirectory, revisions: list[Script], after: str
) -> list[Script]:
    try:
        later = {
            revision.revision for revision in script.iterate_revisions("heads", after)
        }
        base = script.get_revision(after)
    except CommandError as exc:
        raise MigrationKitError(
            f"No revision {after!r} in this project: {exc}"
        ) from exc
    if base is not None:
        later.discard(base.revision)
    return [revision for revision in revisions if revision.revision in later]


def _changed_since(
    script: ScriptDirectory, revisions: list[Script], ref: str
) -> list[Script]:
    """Revision files that differ from ``ref`` (committed or not), or are new."""
    folder = Path(script.dir)
    root = Path(_git(["rev-parse", "--show-toplevel"], cwd=folder).strip())
    changed = _git(["diff", "--name-only", "--no-renames", ref, "--"], cwd=root)
    untracked = _git(["ls-files", "--others", "--exclude-standard"], cwd=root)
    paths = {
        (root / name).resolve()
        for name in (*changed.splitlines(), *untracked.splitlines())
    }
    return [r for r in revisions if Path(r.path).resolve() in paths]


def _git(arguments: list[str], *, cwd: Path) -> str:
    try:
        done = subprocess.run(
            ["git", *arguments],
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=GIT_TIMEOUT,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise MigrationKitError(
            f"Could not run git {' '.join(arguments)}: {exc}"
        ) from exc
    if done.returncode != 0:
        raise MigrationKitError(
            f"git {' '.join(arguments)} failed in {cwd}: {done.stderr.strip()}"
        )
    return done.stdout
