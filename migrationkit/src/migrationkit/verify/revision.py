"""Where the database stands in the migration history, and what to run about it.

Reads the version table exactly as ``alembic current`` does (through a
``MigrationContext``, without creating the table) and compares it with the heads
of the ``ScriptDirectory``. Five outcomes: never migrated (no version table),
at an unknown revision, several script heads, up to date, or behind.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import Script, ScriptDirectory
from alembic.util import CommandError

from migrationkit.masking import printable
from migrationkit.verify.result import CheckResult, alembic_command

NAME = "revision"
TITLE = "revision"


def has_version_table(connection: sa.Connection) -> bool:
    """Whether Alembic's version table exists: has anything ever been migrated?"""
    context = MigrationContext.configure(connection)
    return bool(
        sa.inspect(connection).has_table(
            context.version_table, schema=context.version_table_schema
        )
    )


def check_revision(
    connection: sa.Connection, *, script: ScriptDirectory, config: Config
) -> CheckResult:
    """Compare the revision(s) stored in the database with the script heads."""
    context = MigrationContext.configure(connection)
    heads = tuple(script.get_heads())
    upgrade = alembic_command(config, "upgrade", "head")
    if not has_version_table(connection):
        return _fail(
            f"this database was never migrated (it has no {context.version_table} "
            "table)",
            details=(f"the migration scripts go up to {_names(heads)}",),
            fix=f"run `{upgrade}` to create the schema, then verify again",
        )
    current = tuple(context.get_current_heads())

    unknown = [rev for rev in current if _find(script, rev) is None]
    if unknown:
        return _fail(
            f"the database is at revision {_names(tuple(unknown))}, which no "
            "migration script here defines",
            details=(
                f"the migration scripts go up to {_names(heads)}",
                (
                    "it was applied from other code (another branch, a newer "
                    "release, or a revision file since deleted)"
                ),
            ),
            fix=(
                "check out the code that wrote that revision; if the schema is "
                "known to match a revision here, `"
                + alembic_command(config, "stamp", "<revision>")
                + "` records it"
            ),
        )
    if len(heads) > 1:
        return _fail(
            f"the migration scripts have {len(heads)} heads: {_names(heads)}",
            details=(f"the database is at {_names(current)}",),
            fix=(
                "join them with `"
                + alembic_command(config, "merge", "heads", "-m", '"merge heads"')
                + f"`, then `{upgrade}`"
            ),
        )
    if set(current) == set(heads):
        described = ", ".join(_describe(script.get_revision(rev)) for rev in heads)
        return CheckResult(
            name=NAME, title=TITLE, ok=True, summary=f"at head {described}"
        )
    try:
        pending = list(script.iterate_revisions("heads", current or "base"))
    except CommandError as exc:
        return _fail(
            f"cannot place revision {_names(current)} on the path to the head: {exc}",
            details=(f"the migration scripts go up to {_names(heads)}",),
        )
    pending.reverse()  # in the order upgrade applies them
    position = f"at {_names(current)}" if current else "at base (no revision applied)"
    fix = f"run `{upgrade}`"
    tables = [] if current else _tables_besides_alembics(connection, context)
    if tables:
        # At base, yet tables exist: `alembic stamp base` (or a deleted version
        # row) on a migrated database. Upgrading would fail on the first CREATE.
        shown = ", ".join(tables[:5]) + (", ..." if len(tables) > 5 else "")
        fix = (
            f"the version table is empty, yet the database has tables ({shown}): "
            "if they are this history's, it was stamped base or lost its version "
            "row; record the revision its schema is at with `"
            + alembic_command(config, "stamp", "<revision>")
            + f"` (`alembic history` lists them); if not, `{upgrade}`"
        )
    return _fail(
        f"the database is behind: {position}, {len(pending)} pending revision"
        f"{'' if len(pending) == 1 else 's'} up to {_names(heads)}",
        details=tuple(f"pending: {_describe(rev)}" for rev in pending),
        fix=fix,
    )


def _tables_besides_alembics(
    connection: sa.Connection, context: MigrationContext
) -> list[str]:
    """Tables of the version table's schema, other than its own and the ledger's."""
    schema = context.version_table_schema
    version_table = context.version_table
    return sorted(
        name
        for name in sa.inspect(connection).get_table_names(schema=schema)
        if name != version_table and not name.startswith(f"{version_table}_ledger")
    )


def _find(script: ScriptDirectory, revision: str) -> Script | None:
    try:
        return script.get_revision(revision)
    except CommandError:
        return None


def _describe(revision: Script) -> str:
    doc = (revision.doc or "").strip()
    return f"{revision.revision} ({doc})" if doc else revision.revision


def _names(revisions: tuple[str, ...]) -> str:
    # Revision ids read from the version table are database text: printable.
    return ", ".join(printable(rev) for rev in revisions) if revisions else "base"


def _fail(
    summary: str, *, details: tuple[str, ...] = (), fix: str | None = None
) -> CheckResult:
    return CheckResult(
        name=NAME, title=TITLE, ok=False, summary=summary, details=details, fix=fix
    )
