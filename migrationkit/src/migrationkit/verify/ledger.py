"""The ledger check: applied files unchanged, chain intact, no flag left open.

An applied revision whose file was edited afterwards means the database may not
hold what the history now says (and a fresh database built from the same files
would differ); one whose file is gone cannot be downgraded or reviewed; a broken
chain means rows were removed or rewritten by hand; an open review flag means a
contract revision will stop until someone looks at the flagged rows.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory

from migrationkit.ledger.state import (
    edited_revisions,
    missing_revisions,
    open_flags,
    unrecorded_walk,
)
from migrationkit.ledger.table import LedgerTable, chain_breaks, read_entries
from migrationkit.verify.result import CheckResult, alembic_command

NAME = "ledger"
TITLE = "migration ledger"


def ledger_table(connection: sa.Connection, *, config: Config) -> LedgerTable:
    """The ledger beside the version table this connection's context uses."""
    context = MigrationContext.configure(connection)
    return LedgerTable.beside(
        version_table=context.version_table,
        schema=context.version_table_schema,
        config=config,
    )


def ledger_findings(
    connection: sa.Connection, *, script: ScriptDirectory, config: Config
) -> tuple[int, list[str]]:
    """(rows in the ledger, one line per finding); reads only."""
    entries = read_entries(connection, ledger_table(connection, config=config))
    findings = [
        (
            f"revision {item.revision} was edited after it was applied "
            f"({item.applied_at.isoformat(timespec='seconds')}): sha256 then "
            f"{item.applied_sha256}, now {item.now_sha256}"
        )
        for item in edited_revisions(entries, script)
    ]
    findings += [
        (
            f"revision {item.revision}, applied "
            f"{item.applied_at.isoformat(timespec='seconds')}, has no file any more"
        )
        for item in missing_revisions(entries, script)
    ]
    findings += [
        f"ledger row {b.entry.id} ({b.entry.kind} {b.entry.revision}) {b.reason}"
        for b in chain_breaks(entries)
    ]
    findings += [
        (
            f"open review flag {flag.id}: {flag.detail.get('rows')} "
            f"{flag.detail.get('what')} (flagged by revision {flag.revision} at "
            f"{flag.finished_at.isoformat(timespec='seconds')})"
        )
        for flag in open_flags(entries)
    ]
    return len(entries), findings


def check_ledger(
    connection: sa.Connection, *, script: ScriptDirectory, config: Config
) -> CheckResult:
    rows, findings = ledger_findings(connection, script=script, config=config)
    if not findings:
        summary = (
            f"{rows} row(s), chain intact, every applied revision's file unchanged, "
            "no open review flag"
            if rows
            else "empty: the next migration run starts it"
        )
        return CheckResult(name=NAME, title=TITLE, ok=True, summary=summary)
    accept = alembic_command(
        config, "-x", "accept_edited=<revision>", "upgrade", "head"
    )
    return CheckResult(
        name=NAME,
        title=TITLE,
        ok=False,
        summary=f"{len(findings)} finding(s) in the migration ledger",
        details=tuple(findings),
        fix=(
            f"An edited revision: undo the edit, or accept it with `{accept}`. "
            "An open flag: inspect its rows, then `migrationkit acknowledge "
            "<revision>`. A broken chain: someone changed the ledger by hand; "
            "`migrationkit history` shows the rows. See docs/ledger.md."
        ),
    )


def walk_recorded(
    connection: sa.Connection, *, revision: str, config: Config | None = None
) -> str | None:
    """For ``prove``: why the ledger does not show ``revision``'s up, down, up
    walk, or None when it does or when the project keeps no ledger (an env.py
    without migrationkit). Leaves the connection outside any transaction."""
    table = LedgerTable.beside(config=config)
    try:
        if not table.exists(connection):
            return None
        return unrecorded_walk(read_entries(connection, table), revision=revision)
    finally:
        if connection.in_transaction():
            connection.rollback()
