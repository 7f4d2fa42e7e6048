"""Safe by default: ``alembic revision --autogenerate`` writes the safe operations.

``run_migrations`` composes ``safe_revision_directives`` with the project's own
``process_revision_directives``: autogenerate's naive operations on tables that
already exist are rewritten through Alembic's ``Rewriter`` into the operations of
``migrationkit.ops`` (rendered by ``render``), enum values the models added are
found (``enums``), and a column type change that would rewrite a table is refused
with the plan that replaces it. See docs/autogenerate.md for each rule.

Off for a project with ``run_migrations(..., safe_autogenerate=False)``, or for one
revision with ``alembic -x safe_autogenerate=off revision --autogenerate``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from alembic.operations import ops
from alembic.runtime.migration import MigrationContext

from migrationkit.autogenerate.enums import enum_changes
from migrationkit.autogenerate.rules import (
    Comparison,
    TypeChange,
    build_rewriter,
    refused_type_changes,
)
from migrationkit.errors import MigrationKitError

Directives = Callable[[MigrationContext, Any, list[ops.MigrationScript]], None]

X_ARGUMENT = "safe_autogenerate"
"""``-x safe_autogenerate=off`` writes one revision as Alembic would."""
_ON = {"on", "true", "yes", "1"}
_OFF = {"off", "false", "no", "0"}

__all__ = [
    "X_ARGUMENT",
    "rewrite_safely",
    "safe_autogenerate_wanted",
    "safe_revision_directives",
]


def safe_autogenerate_wanted(
    x_arguments: Mapping[str, str], *, project_default: bool
) -> bool:
    """The project's choice, unless this command's ``-x safe_autogenerate`` says."""
    given = x_arguments.get(X_ARGUMENT)
    if given is None:
        return project_default
    if given.lower() in _ON:
        return True
    if given.lower() in _OFF:
        return False
    raise MigrationKitError(
        f"-x {X_ARGUMENT}={given!r} is neither on nor off: give "
        f"-x {X_ARGUMENT}=off (before the command: alembic -x {X_ARGUMENT}=off "
        "revision --autogenerate) to write this revision as Alembic would."
    )


def safe_revision_directives(project_hook: Directives | None) -> Directives:
    """A ``process_revision_directives``: the safe rewrite, then ``project_hook``.

    The project's hook runs second, so it sees the operations as they will be
    written (a hook that drops empty revisions keeps one that adds an enum value).
    """

    def hook(
        context: MigrationContext, revision: Any, directives: list[ops.MigrationScript]
    ) -> None:
        rewrite_safely(context, revision, directives)
        if project_hook is not None:
            project_hook(context, revision, directives)

    return hook


def rewrite_safely(
    context: MigrationContext, revision: Any, directives: list[ops.MigrationScript]
) -> None:
    """Rewrite autogenerate's operations in place; raise for a refused change.

    Needs the database autogenerate compared against (it decides which tables
    exist); without a connection the directives are left as they are.
    """
    connection = context.connection
    if connection is None or not directives:
        return
    seen = Comparison(connection=connection)
    build_rewriter(seen).process_revision_directives(context, revision, directives)
    refused = [
        change
        for script in directives
        for upgrade in script.upgrade_ops_list
        for change in refused_type_changes(seen, upgrade)
    ]
    if refused:
        raise MigrationKitError(refusal_message(refused))
    for script in directives:
        upgrade, downgrade = enum_changes(
            connection, context.opts.get("target_metadata")
        )
        script.upgrade_ops_list[-1].ops[:0] = upgrade
        script.upgrade_ops_list[-1].ops.extend(seen.foreign_keys_moved)
        script.downgrade_ops_list[-1].ops.extend(downgrade)


def refusal_message(changes: list[TypeChange]) -> str:
    """Why no revision was written, and the four revisions that replace it."""
    first = changes[0]
    listed = "\n".join(
        f"  {change.table}.{change.column}: {change.old} -> {change.new}"
        for change in changes
    )
    return (
        "No revision written: changing a column's type this way rewrites the whole "
        "table (and rebuilds its indexes) under ACCESS EXCLUSIVE, so no query reads "
        f"or writes it until the end:\n{listed}\n"
        "Change it in four revisions instead, each deployed before the next "
        "(migrationkit's own revisions 008-011 change login_events.ip_address from "
        "text to inet this way):\n"
        f"  1. expand: add a new column of the new type next to {first.column} in the "
        "model (nullable), autogenerate, and keep it in step with a trigger "
        "(migrationkit.ops.type_change.create_sync_trigger);\n"
        "  2. backfill: convert the old rows with op.backfill_in_batches;\n"
        "  3. switch: deploy the application reading and writing the new column;\n"
        "  4. contract: drop the old column and the trigger (acknowledge MK104), "
        "then rename the new column if you want the old name back.\n"
        f"To write this revision unchanged anyway: alembic -x {X_ARGUMENT}=off "
        "revision --autogenerate -m <message>"
    )
