"""The revision graph, walked from base to head, read once per proof.

Alembic's ``ScriptDirectory`` loads every revision file each time a command builds
one; the harness builds it once and hands the ``Script`` objects around. Revisions
come in an order where every revision follows all of its parents, so a database
built one revision at a time in that order always has what the next one needs.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from alembic.config import Config
from alembic.script import Script, ScriptDirectory

from migrationkit.errors import MigrationKitError


@dataclass(frozen=True)
class History:
    """The project's revisions, parents before children."""

    script: ScriptDirectory
    revisions: tuple[Script, ...]

    @classmethod
    def load(cls, config: Config) -> History:
        script = ScriptDirectory.from_config(config)
        ordered = tuple(reversed(list(script.walk_revisions("base", "heads"))))
        return cls(script=script, revisions=ordered)

    @property
    def heads(self) -> tuple[str, ...]:
        return tuple(self.script.get_heads())

    def get(self, revision: str) -> Script:
        for script in self.revisions:
            if script.revision == revision:
                return script
        raise MigrationKitError(
            f"Revision {revision!r} is not in the history of {self.script.dir}."
        )

    def ids(self) -> list[str]:
        return [script.revision for script in self.revisions]


def parents(revision: Script) -> tuple[str, ...]:
    """The revisions this one follows (none for the first, two for a merge)."""
    down = revision.down_revision
    if down is None:
        return ()
    return (down,) if isinstance(down, str) else tuple(down)


def describe(revision: Script) -> str:
    """``003 (backfill usernames)``: the id and the message."""
    doc = (revision.doc or "").strip().splitlines()
    return f"{revision.revision} ({doc[0]})" if doc and doc[0] else revision.revision


def relative_path(revision: Script, *, root: Path | None = None) -> str:
    """The revision's file, relative to the project folder when it is inside it."""
    path = Path(revision.path).resolve()
    base = (root or Path.cwd()).resolve()
    try:
        return str(path.relative_to(base))
    except ValueError:
        return str(path)
