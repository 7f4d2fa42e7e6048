"""``alembic check`` that says what differs in words, not in Python reprs.

Alembic's ``check`` command fails with ``New upgrade operations detected:`` followed
by the repr of its diff tuples (``('modify_default', None, 'users', 'created_at',
{...}, DefaultClause(<sqlalchemy.sql.elements.TextClause object at 0x7f...>),
None)``). When ``alembic check`` runs from the command line, ``run_migrations``
installs this ``process_revision_directives`` hook, which fails first with one line
per difference and the command that writes the migration.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from alembic.config import Config
from alembic.operations.ops import MigrationScript
from alembic.runtime.migration import MigrationContext

from migrationkit.errors import MigrationKitError
from migrationkit.verify.schema import describe_differences

Directives = Callable[[MigrationContext, Any, list[MigrationScript]], None]


def running_alembic_check(config: Config) -> bool:
    """Whether this is ``alembic check`` from Alembic's command line."""
    command = getattr(config.cmd_opts, "cmd", None)
    if not isinstance(command, tuple) or not command:
        return False
    return getattr(command[0], "__name__", None) == "check"


def readable_check(user_hook: Directives | None) -> Directives:
    """A ``process_revision_directives`` that runs ``user_hook``, then explains."""

    def hook(
        context: MigrationContext, revision: Any, directives: list[MigrationScript]
    ) -> None:
        if user_hook is not None:
            user_hook(context, revision, directives)
        diffs: list[Any] = []
        for script in directives:
            for upgrade_ops in script.upgrade_ops_list:
                diffs.extend(upgrade_ops.as_diffs())
        if diffs:
            raise MigrationKitError(_message(diffs, context))

    return hook


def _message(diffs: Iterable[Any], context: MigrationContext) -> str:
    lines = describe_differences(list(diffs), context.dialect)
    shown = "\n".join(f"  - {line}" for line in lines)
    return (
        f"The models and the database differ ({len(lines)} difference"
        f"{'s' if len(lines) != 1 else ''}):\n{shown}\n"
        "If the database is behind, run `alembic upgrade head`; if the models "
        "changed, write the migration with `alembic revision --autogenerate -m "
        '"describe the change"` and review it.'
    )
