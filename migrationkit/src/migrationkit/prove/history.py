"""The revision graph, walked from base to head, read once per proof.

Alembic's ``ScriptDirectory`` loads every revision file each time a command builds
one; the harness builds it once and hands the ``Script`` objects around. Revisions
come in an order where every revision follows all of its parents, so a database
built one revision at a time in that order always has what the next one needs.

A project may keep several independent histories in one folder (Alembic's
"multiple bases": each base with its own branch label, migrated with
``alembic upgrade heads``). Their revisions come one history after the other, so
the walk starts a new database once per history, not at every switch between
them.
"""

from __future__ import annotations

from collections.abc import Sequence
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
        ordered = list(reversed(list(script.walk_revisions("base", "heads"))))
        group = _histories(ordered)  # numbered in order of first appearance
        ordered.sort(key=lambda s: group[s.revision])  # stable: parents first
        return cls(script=script, revisions=tuple(ordered))

    @property
    def heads(self) -> tuple[str, ...]:
        return tuple(self.script.get_heads())

    def heads_by_history(self) -> list[tuple[str, ...]]:
        """The heads, grouped by the independent history each belongs to.

        Two heads of one history are a fork that needs a merge; heads of
        separate histories (no common ancestor, no dependency between them) are
        each that history's one head.
        """
        group = _histories(self.revisions)
        grouped: dict[int, list[str]] = {}
        for head in self.heads:
            grouped.setdefault(group[head], []).append(head)
        return [tuple(heads) for heads in grouped.values()]

    def get(self, revision: str) -> Script:
        for script in self.revisions:
            if script.revision == revision:
                return script
        raise MigrationKitError(
            f"Revision {revision!r} is not in the history of {self.script.dir}."
        )

    def ids(self) -> list[str]:
        return [script.revision for script in self.revisions]


def _histories(revisions: Sequence[Script]) -> dict[str, int]:
    """Revision -> the number of the independent history it belongs to.

    Revisions linked through a parent or a ``depends_on`` are in one history.
    """
    root = {script.revision: script.revision for script in revisions}

    def find(revision: str) -> str:
        while root[revision] != revision:
            root[revision] = root[root[revision]]
            revision = root[revision]
        return revision

    for script in revisions:
        for linked in (*parents(script), *_names(script.dependencies)):
            if linked in root:
                root[find(linked)] = find(script.revision)
    numbers: dict[str, int] = {}
    return {
        script.revision: numbers.setdefault(find(script.revision), len(numbers))
        for script in revisions
    }


def _names(value: str | Sequence[str] | None) -> tuple[str, ...]:
    if value is None:
        return ()
    return (value,) if isinstance(value, str) else tuple(value)


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
