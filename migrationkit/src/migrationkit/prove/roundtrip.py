"""Up, down, up again: after the down the catalog is what it was before the up.

Replaying a history up and down (what pytest-alembic's up/down consistency test
does) passes whenever each upgrade succeeds again, so a downgrade that leaves an
index, a function, an enum type or a sequence behind goes unseen as long as the
upgrade says ``IF NOT EXISTS``. Comparing full catalog snapshots catches it, and
names the object. The second upgrade must then succeed too; the catalog it
builds is where the next revision starts (and is compared at that revision's
downgrade), so no snapshot is taken after the first one.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import sqlalchemy as sa
from alembic.script import Script

from migrationkit.prove.catalog import CatalogSnapshot
from migrationkit.prove.diff import CatalogDiff, diff_snapshots
from migrationkit.prove.history import describe, parents
from migrationkit.prove.hooks import DataHook, run_after, run_before
from migrationkit.prove.migrator import Migrator
from migrationkit.prove.report import (
    Block,
    Finding,
    error_line,
    revision_block,
    sql_block,
)
from migrationkit.prove.upgrades import upgrade_failed
from migrationkit.verify.ledger import walk_recorded

_FIX_LEFTOVERS = (
    "make downgrade() drop what upgrade() creates and recreate what it drops; "
    "an upgrade that says IF NOT EXISTS hides a leftover, it does not remove it"
)


@dataclass(frozen=True, kw_only=True)
class RoundTrip:
    """What a round trip found, and the catalog at the revision if it got there."""

    findings: tuple[Finding, ...]
    at_revision: CatalogSnapshot | None
    """The catalog at the revision after the round trip; None if it failed."""
    clean: bool
    """The database is at the revision and its catalog is ``at_revision``."""
    upgraded: bool = True
    """The first upgrade succeeded (else the revision cannot be reached)."""
    not_implemented: bool = False
    """The downgrade raised ``NotImplementedError``: irreversible on purpose; the
    database is still at the revision (the downgrade's transaction rolled back)."""


def prove_round_trip(
    connection: sa.Connection,
    *,
    migrator: Migrator,
    revision: Script,
    before: CatalogSnapshot,
    snapshot: Callable[[sa.Connection], CatalogSnapshot],
    hooks: Sequence[DataHook] = (),
) -> RoundTrip:
    """Up, down, up again from ``revision``'s parent, on ``connection``.

    ``before`` is the catalog at the parent. Data hooks put their rows in first
    and check them after the first upgrade, and again after the second.
    """
    findings: list[Finding] = []
    states, failed = run_before(connection, hooks, revision)
    if failed is not None:
        return RoundTrip(findings=(failed,), at_revision=None, clean=False)
    first = migrator.upgrade(connection, revision)
    if first.error is not None:
        finding = (
            _failed_on_data(revision, first.error, first.sql)
            if hooks
            else upgrade_failed(revision, first)
        )
        return RoundTrip(
            findings=(finding,), at_revision=None, clean=False, upgraded=False
        )
    failed = run_after(connection, hooks, states, revision, when="after upgrading to")
    findings += [failed] if failed else []
    trip = _down_and_up(
        connection,
        migrator=migrator,
        revision=revision,
        before=before,
        snapshot=snapshot,
    )
    if trip is None:
        return RoundTrip(
            findings=tuple(findings),
            at_revision=None,
            clean=False,
            not_implemented=True,
        )
    if isinstance(trip, Finding):
        return RoundTrip(findings=(*findings, trip), at_revision=None, clean=False)
    if hooks and not findings:  # one finding per broken hook, not two
        failed = run_after(
            connection, hooks, states, revision, when="after down and up again of"
        )
        findings += [failed] if failed else []
    return RoundTrip(findings=tuple(findings), at_revision=trip, clean=True)


def _down_and_up(
    connection: sa.Connection,
    *,
    migrator: Migrator,
    revision: Script,
    before: CatalogSnapshot,
    snapshot: Callable[[sa.Connection], CatalogSnapshot],
) -> Finding | CatalogSnapshot | None:
    """Downgrade and compare with ``before``; upgrade again (None: irreversible).

    Returns the finding, or the catalog after the second upgrade (the state the
    next revision starts from).
    """
    down = migrator.downgrade(connection, revision)
    if _not_implemented(down.error):
        return None
    if down.error is not None:
        return _finding(
            f"the downgrade of revision {describe(revision)} fails: "
            f"{error_line(down.error)}",
            revision,
            Block(title="Error", lines=(error_line(down.error),)),
            sql_block("SQL the downgrade ran", down.sql),
        )
    left = diff_snapshots(before, snapshot(connection))
    again = migrator.upgrade(connection, revision)
    if left:
        verdict = (
            f"revision {describe(revision)}: its downgrade does not restore the "
            f"catalog ({left.summary()})"
        )
        blocks = [
            _diff_block(left, revision),
            sql_block("SQL the downgrade ran", down.sql),
        ]
        if again.error is not None:
            verdict += "; upgrading again then fails"
            blocks.append(
                Block(title="Upgrading again", lines=(error_line(again.error),))
            )
        blocks.append(Block(title="What to do", lines=(_FIX_LEFTOVERS,)))
        return _finding(verdict, revision, *blocks)
    if again.error is not None:
        return _finding(
            f"upgrading revision {describe(revision)} again after its downgrade "
            f"fails: {error_line(again.error)}",
            revision,
            Block(title="Error", lines=(error_line(again.error),)),
            sql_block("SQL the downgrade ran", down.sql),
            sql_block("SQL the second upgrade ran", again.sql),
        )
    gap = walk_recorded(connection, revision=revision.revision, config=migrator.config)
    if gap is not None:  # the ledger's rows of this walk (docs/ledger.md)
        return _finding(
            f"revision {describe(revision)}: the migration ledger does not record "
            f"its up, down, up walk ({gap})",
            revision,
        )
    return snapshot(connection)


def _not_implemented(error: BaseException | None) -> bool:
    while error is not None:
        if isinstance(error, NotImplementedError):
            return True
        error = error.__cause__
    return False


def _finding(verdict: str, revision: Script, *blocks: Block) -> Finding:
    return Finding(
        code="round-trip",
        verdict=verdict,
        revision=revision.revision,
        blocks=(revision_block(revision), *blocks),
    )


def _diff_block(diff: CatalogDiff, revision: Script) -> Block:
    start = ", ".join(parents(revision)) or "base"
    return Block(
        title=f"Catalog diff: at {start} before the upgrade -> after the downgrade",
        lines=tuple(
            diff.lines(
                added="left behind by the downgrade",
                removed="missing after the downgrade",
                before="before",
                after="after",
            )
        ),
    )


def _failed_on_data(
    revision: Script, error: BaseException, sql: Sequence[str]
) -> Finding:
    return Finding(
        code="data",
        verdict=(
            f"revision {describe(revision)} fails to upgrade a database holding the "
            f"data hooks' rows: {error_line(error)}"
        ),
        revision=revision.revision,
        blocks=(
            revision_block(revision),
            Block(title="Error", lines=(error_line(error),)),
            sql_block("SQL the upgrade ran", sql),
        ),
    )
