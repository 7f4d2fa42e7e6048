"""What the ledger says now: which revisions are applied from which file, which
review flags are open. Pure functions over the rows, shared by the runtime (which
refuses), ``verify`` (which reports) and the commands (which show)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from alembic.script import ScriptDirectory
from alembic.util import CommandError

from migrationkit.ledger import table as ledger
from migrationkit.ledger.provenance import file_sha256


@dataclass(frozen=True, kw_only=True)
class AppliedRevision:
    revision: str
    applied_at: datetime
    applied_sha256: str | None


@dataclass(frozen=True, kw_only=True)
class EditedRevision:
    revision: str
    applied_at: datetime
    applied_sha256: str
    now_sha256: str


def applied_revisions(
    entries: Iterable[ledger.LedgerEntry],
) -> dict[str, AppliedRevision]:
    """Revisions applied (or stamped) and not reverted since, with the file hash
    they ran from (or the one accepted later with ``-x accept_edited``)."""
    applied: dict[str, AppliedRevision] = {}
    for entry in entries:
        if entry.kind in (ledger.APPLIED, ledger.STAMPED):
            applied[entry.revision] = AppliedRevision(
                revision=entry.revision,
                applied_at=entry.finished_at,
                applied_sha256=entry.file_sha256,
            )
        elif entry.kind == ledger.REVERTED:
            applied.pop(entry.revision, None)
        elif entry.kind == ledger.ACCEPTED_EDIT and entry.revision in applied:
            before = applied[entry.revision]
            applied[entry.revision] = AppliedRevision(
                revision=entry.revision,
                applied_at=before.applied_at,
                applied_sha256=entry.file_sha256,
            )
    applied.pop("base", None)
    return applied


def revision_file_sha256(script: ScriptDirectory, revision: str) -> str | None:
    """The hash of ``revision``'s file now; None when no file holds it."""
    try:
        found = script.get_revision(revision)
    except CommandError:
        return None
    return file_sha256(found.path) if found is not None else None


def edited_revisions(
    entries: Iterable[ledger.LedgerEntry], script: ScriptDirectory
) -> list[EditedRevision]:
    """Applied revisions whose file exists and hashes differently from when it ran."""
    edited = []
    for item in applied_revisions(entries).values():
        now = revision_file_sha256(script, item.revision)
        if (
            now is not None
            and item.applied_sha256 is not None
            and now != item.applied_sha256
        ):
            edited.append(
                EditedRevision(
                    revision=item.revision,
                    applied_at=item.applied_at,
                    applied_sha256=item.applied_sha256,
                    now_sha256=now,
                )
            )
    return edited


def missing_revisions(
    entries: Iterable[ledger.LedgerEntry], script: ScriptDirectory
) -> list[AppliedRevision]:
    """Applied revisions that no file of the project holds any more."""
    return [
        item
        for item in applied_revisions(entries).values()
        if revision_file_sha256(script, item.revision) is None
    ]


def open_flags(entries: Iterable[ledger.LedgerEntry]) -> list[ledger.LedgerEntry]:
    """Flag rows that no acknowledgement closed, oldest first."""
    rows = list(entries)
    closed = {
        int(flag_id)
        for entry in rows
        if entry.kind == ledger.ACKNOWLEDGED
        for flag_id in entry.detail.get("flags", [])
    }
    return [e for e in rows if e.kind == ledger.FLAG and e.id not in closed]


WALK = (ledger.APPLIED, ledger.REVERTED, ledger.APPLIED)
"""The rows an up, down, up walk of one revision leaves, in order."""


def unrecorded_walk(
    entries: Iterable[ledger.LedgerEntry], *, revision: str
) -> str | None:
    """Why the ledger's last rows about ``revision`` are not a complete up, down,
    up walk (each with its file hash), or None when they are."""
    about = [e for e in entries if e.revision == revision and e.kind in set(WALK)][
        -len(WALK) :
    ]
    kinds = tuple(e.kind for e in about)
    if kinds != WALK:
        return (
            f"expected rows {', '.join(WALK)}, found "
            f"{', '.join(kinds) if kinds else 'none'}"
        )
    if any(e.file_sha256 is None for e in about):
        return "a row has no file hash"
    return None
