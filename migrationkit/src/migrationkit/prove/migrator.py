"""Run exactly one revision, up or down, through the project's own ``env.py``.

The harness must test what production runs, so every step goes through the
project's ``env.py`` (with migrationkit: the advisory lock, the lock guards, one
transaction per migration). Only the *work* is chosen here: ``EnvironmentContext``
is given a function returning one ``MigrationStep`` for the revision under test
(Alembic's public hooks for this), and the connection is handed in through
``config.attributes["connection"]``, the convention Alembic documents for tests.
That avoids re-reading every revision file for each step, as ``alembic.command``
does, which is what makes long histories slow to test.

Every statement the step sends is recorded, so a failure can show the SQL it ran.

A review flag (``flag_for_review``) raised on a scratch database's rows stops
the contract revision after it, as it would stop a deploy; a project whose data
hooks put in rows that get flagged acknowledges them in a hook, as an operator
would (this repository's ``tests/test_history.py`` does for 011).
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from alembic.config import Config
from alembic.runtime.environment import EnvironmentContext
from alembic.runtime.migration import MigrationContext, MigrationStep
from alembic.script import Script

from migrationkit.prove.history import History

CONNECTION_ATTRIBUTE = "connection"


@dataclass
class StatementLog:
    """The SQL sent on a connection while a step ran, in order."""

    statements: list[str] = field(default_factory=list)

    def record(
        self, _conn: sa.Connection, _cursor: Any, statement: str, *_: Any
    ) -> None:
        """SQLAlchemy's ``before_cursor_execute`` event."""
        self.statements.append(" ".join(statement.split()))


@dataclass(frozen=True, kw_only=True)
class StepResult:
    """What one migration step did: the SQL it sent, and its error if it failed."""

    sql: tuple[str, ...]
    error: BaseException | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


class Migrator:
    """Applies single revisions of one history through its ``env.py``."""

    def __init__(self, config: Config, history: History) -> None:
        self.config = config
        self.history = history

    def upgrade(self, connection: sa.Connection, revision: Script) -> StepResult:
        """Apply ``revision`` to a database holding exactly its ancestors."""
        return self._run(connection, revision, step=MigrationStep.upgrade_from_script)

    def upgrade_chain(
        self, connection: sa.Connection, revisions: Sequence[Script]
    ) -> StepResult:
        """Apply ``revisions`` (each the child of the one before) in one pass
        through env.py, as ``alembic upgrade A:B`` does: each still in its own
        migration, without env.py's start-up cost per revision."""
        revision_map = self.history.script.revision_map

        def steps(_heads: Any, _context: MigrationContext) -> list[MigrationStep]:
            return [
                MigrationStep.upgrade_from_script(revision_map, revision)
                for revision in revisions
            ]

        return self._run(connection, revisions[-1], steps=steps)

    def downgrade(self, connection: sa.Connection, revision: Script) -> StepResult:
        """Undo ``revision`` (the database must be at it)."""
        return self._run(connection, revision, step=MigrationStep.downgrade_from_script)

    def stamp(self, connection: sa.Connection, revision: Script) -> StepResult:
        """Move the version table to ``revision`` without running it."""
        script = self.history.script

        def stamp(heads: Any, _context: MigrationContext) -> list[Any]:
            return list(script._stamp_revs(revision.revision, heads))

        return self._run(connection, revision, steps=stamp)

    def render(self, revision: Script, *, upgrade: bool) -> str:
        """The SQL of one revision in offline (``--sql``) mode, as Alembic prints it.

        Raises whatever the revision raises when it cannot render offline.
        """
        output = io.StringIO()
        make = (
            MigrationStep.upgrade_from_script
            if upgrade
            else MigrationStep.downgrade_from_script
        )
        down = revision.down_revision
        start = revision.revision if not upgrade else down
        with EnvironmentContext(
            self.config,
            self.history.script,
            fn=self._steps(revision, make),
            as_sql=True,
            starting_rev=start if isinstance(start, str) else None,
            destination_rev=revision.revision if upgrade else None,
            output_buffer=output,
        ):
            self.history.script.run_env()
        return output.getvalue()

    def _steps(
        self, revision: Script, make: Callable[..., MigrationStep]
    ) -> Callable[[Any, MigrationContext], list[MigrationStep]]:
        revision_map = self.history.script.revision_map

        def steps(_heads: Any, _context: MigrationContext) -> list[MigrationStep]:
            return [make(revision_map, revision)]

        return steps

    def _run(
        self,
        connection: sa.Connection,
        revision: Script,
        *,
        step: Callable[..., MigrationStep] | None = None,
        steps: Callable[[Any, MigrationContext], list[Any]] | None = None,
    ) -> StepResult:
        log = StatementLog()
        fn = steps if steps is not None else self._steps(revision, step or _no_step)
        error: BaseException | None = None
        with (
            self._handed_in(connection),
            _recording(connection, log),
        ):
            try:
                with EnvironmentContext(
                    self.config,
                    self.history.script,
                    fn=fn,
                    destination_rev=revision.revision,
                ):
                    self.history.script.run_env()
            except Exception as exc:
                if interrupted(exc):
                    raise KeyboardInterrupt from exc  # Ctrl-C is not a finding
                error = exc
            finally:
                if connection.in_transaction():
                    # What env.py left uncommitted dies with the step, as it would
                    # when its own connection closed.
                    connection.rollback()
        return StepResult(sql=tuple(log.statements), error=error)

    @contextmanager
    def _handed_in(self, connection: sa.Connection) -> Iterator[None]:
        attributes = self.config.attributes
        previous = attributes.get(CONNECTION_ATTRIBUTE)
        attributes[CONNECTION_ATTRIBUTE] = connection
        try:
            yield
        finally:
            if previous is None:
                attributes.pop(CONNECTION_ATTRIBUTE, None)
            else:
                attributes[CONNECTION_ATTRIBUTE] = previous


def _no_step(*_: Any) -> MigrationStep:
    raise AssertionError("a step maker or a steps function is needed")


def interrupted(error: BaseException) -> bool:
    """Ctrl-C, possibly wrapped by the runtime's failure report."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        if isinstance(current, KeyboardInterrupt):
            return True
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return False


@contextmanager
def _recording(connection: sa.Connection, log: StatementLog) -> Iterator[None]:
    sa.event.listen(connection, "before_cursor_execute", log.record)
    try:
        yield
    finally:
        sa.event.remove(connection, "before_cursor_execute", log.record)
