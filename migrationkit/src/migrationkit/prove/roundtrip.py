"""Up, down, up again: after the down the catalog is what it was before the up.

Replaying a history up and down (what pytest-alembic's up/down consistency test
does) passes whenever each upgrade succeeds again, so a downgrade that leaves an
index, a function, an enum type or a sequence behind goes unseen as long as the
upgrade says ``IF NOT EXISTS``. Comparing full catalog snapshots catches it, and
names the object. The second upgrade must then build the very catalog the first
one built.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic.script import Script

from migrationkit.prove.diff import CatalogDiff, diff_snapshots
from migrationkit.prove.history import describe, parents
from migrationkit.prove.hooks import DataHook, run_after, run_before
from migrationkit.prove.report import (
    Block,
    Finding,
    error_line,
    revision_block,
    sql_block,
)
from migrationkit.prove.templates import Template, TemplateChain

_FIX_LEFTOVERS = (
    "make downgrade() drop what upgrade() creates and recreate what it drops; "
    "an upgrade that says IF NOT EXISTS hides a leftover, it does not remove it"
)


def prove_round_trip(
    connection: sa.Connection,
    *,
    chain: TemplateChain,
    revision: Script,
    before: Template,
    after: Template,
    hooks: Sequence[DataHook] = (),
    at_parent: bool = False,
) -> list[Finding]:
    """Round-trip ``revision`` on ``connection``; the findings (none: proven).

    The database is at ``revision`` already, or at its parent when ``at_parent``
    (then the data hooks put their rows in and the first upgrade runs here).
    ``before``/``after`` hold the catalog snapshots at the parent and at the
    revision, taken when their templates were built.
    """
    findings: list[Finding] = []
    states: list[object] = []
    if at_parent:
        states, failed = run_before(connection, hooks, revision)
        if failed is not None:
            return [failed]
        first = chain.migrator.upgrade(connection, revision)
        if first.error is not None:
            return [_failed_on_data(revision, first.error, first.sql)]
        failed = run_after(
            connection, hooks, states, revision, when="after upgrading to"
        )
        findings += [failed] if failed else []
    failed = _down_and_up(
        connection, chain=chain, revision=revision, before=before, after=after
    )
    if failed is not None:
        return [*findings, failed]
    if hooks:
        failed = run_after(
            connection, hooks, states, revision, when="after down and up again of"
        )
        findings += [failed] if failed else []
    return findings


def _down_and_up(
    connection: sa.Connection,
    *,
    chain: TemplateChain,
    revision: Script,
    before: Template,
    after: Template,
) -> Finding | None:
    """Downgrade, compare with ``before``; upgrade again, compare with ``after``."""
    down = chain.migrator.downgrade(connection, revision)
    if down.error is not None:
        return _finding(
            f"the downgrade of revision {describe(revision)} fails: "
            f"{error_line(down.error)}",
            revision,
            Block(title="Error", lines=(error_line(down.error),)),
            sql_block("SQL the downgrade ran", down.sql),
        )
    left = diff_snapshots(before.snapshot, chain.snapshot(connection))
    again = chain.migrator.upgrade(connection, revision)
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
    drift = diff_snapshots(after.snapshot, chain.snapshot(connection))
    if not drift:
        return None
    return _finding(
        f"revision {describe(revision)} builds a different catalog when upgraded "
        f"a second time ({drift.summary()})",
        revision,
        Block(
            title="Catalog diff: first upgrade -> second upgrade",
            lines=tuple(
                drift.lines(
                    added="only after the second upgrade",
                    removed="only after the first upgrade",
                    before="first",
                    after="second",
                )
            ),
        ),
        sql_block("SQL the downgrade ran", down.sql),
    )


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
