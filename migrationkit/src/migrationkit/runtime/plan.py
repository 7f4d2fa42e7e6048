"""The one place that reaches into Alembic's private API: the steps of a run.

Alembic computes a run's steps from the version table each time
``MigrationContext.run_migrations()`` is called. For ``head`` a retry after a lock
timeout therefore resumes correctly, but a relative target (``upgrade +2``) would be
counted again from the new position and go too far. So the first attempt's plan is
kept, and finished steps are counted through the public ``on_version_apply`` hook.

Owning the step list also gives two more things a public hook cannot: a check
*between* two steps (a contract revision that would destroy data flagged earlier
in the same run stops the run there, see ``review``), and knowing whether the
step that failed had already committed part of its work (through SQLAlchemy's
public ``commit`` event), so that messages say what the database holds. The
ledger (``migrationkit.ledger``) hears of each step's start here and writes its
row from ``on_version_apply``, inside the step's transaction.

Alembic has no public way to replace a context's step function, so this module sets
``MigrationContext._migrations_fn`` (``install`` refuses clearly when it is gone)
and reads a step's ``revision`` and ``is_upgrade``. If a new Alembic release
reshapes them, tests fail loudly: ``test_guards.py`` (``upgrade +2`` resumed by a
retry) and ``test_contract_acknowledgement.py`` (the stop between two steps).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any
from weakref import WeakKeyDictionary

import sqlalchemy as sa
from alembic.runtime.migration import MigrationContext
from alembic.script import Script

from migrationkit.errors import MigrationKitError
from migrationkit.runtime.journal import RunJournal
from migrationkit.runtime.review import DESTROYS_FLAGGED, require_acknowledgement

_INSTALLED: WeakKeyDictionary[MigrationContext, ResumablePlan] = WeakKeyDictionary()


@dataclass(kw_only=True)
class ResumablePlan:
    """The migration steps of the first attempt; a retry runs those not done.

    Alembic computes the steps from the version table at each run. For ``head``
    that already resumes correctly, but a relative target (``upgrade +2``) would
    be counted again from the new position and overshoot; so the first plan is
    kept, and finished steps are counted through ``on_version_apply``.
    """

    migrations_fn: Callable[..., Iterable[Any]]
    journal: RunJournal
    acknowledged: frozenset[str] = frozenset()
    connection: sa.Connection | None = None
    steps: list[Any] | None = None
    done: int = 0
    committed_partway: bool = False
    """True once the running step committed before its end: an autocommit block
    (a concurrent index build, backfill batches) committed the work before it,
    and whatever finished inside it is committed too."""
    _applied: bool = field(default=False, repr=False)

    @classmethod
    def install(
        cls,
        context: MigrationContext,
        *,
        journal: RunJournal,
        acknowledged: frozenset[str] = frozenset(),
    ) -> ResumablePlan:
        original = getattr(context, "_migrations_fn", None)
        if not callable(original):
            raise MigrationKitError(
                "This Alembic version has no MigrationContext._migrations_fn, which "
                "migrationkit's lock-timeout retry relies on. Install an Alembic "
                "version within migrationkit's supported range."
            )
        plan = cls(
            migrations_fn=original,
            journal=journal,
            acknowledged=acknowledged,
            connection=context.connection,
        )
        context._migrations_fn = plan.remaining
        ledger = [journal.ledger.step_applied] if journal.ledger is not None else []
        context.on_version_apply_callbacks = (
            *context.on_version_apply_callbacks,
            *ledger,  # its row commits with the version change
            plan.step_done,
        )
        if plan.connection is not None:
            sa.event.listen(plan.connection, "commit", plan.committed)
        _INSTALLED[context] = plan
        return plan

    @classmethod
    def installed_on(cls, context: MigrationContext) -> ResumablePlan | None:
        """The plan ``install`` put on ``context``, if any (for failure messages)."""
        return _INSTALLED.get(context)

    def uninstall(self) -> None:
        """Stop watching the connection's commits (the run is over)."""
        if self.connection is not None and sa.event.contains(
            self.connection, "commit", self.committed
        ):
            sa.event.remove(self.connection, "commit", self.committed)

    def step_in_flight(self) -> Any | None:
        """The step running now (or next to run), None before planning or after
        the last step."""
        if self.steps is None or self.done >= len(self.steps):
            return None
        return self.steps[self.done]

    def remaining(self, heads: Any, context: MigrationContext) -> Iterator[Any]:
        if self.steps is None:
            self.steps = list(self.migrations_fn(heads, context))
        return self._steps_from(self.done)

    def _steps_from(self, start: int) -> Iterator[Any]:
        # Alembic asks for the next step only once the previous one is committed,
        # so a check here runs between two committed migrations.
        for step in (self.steps or [])[start:]:
            self._before(step)
            self.committed_partway = False
            self._applied = False
            yield step

    def _before(self, step: Any) -> None:
        revision = getattr(step, "revision", None)
        if not isinstance(revision, Script):
            return  # a stamp step: nothing runs
        self.journal.revision = revision.revision
        self.journal.upgrading = bool(getattr(step, "is_upgrade", False))
        if self.journal.ledger is not None and self.connection is not None:
            self.journal.ledger.step_starting(
                self.connection,
                revision=revision.revision,
                upgrade=self.journal.upgrading,
            )
        if getattr(step, "is_upgrade", False):
            require_acknowledgement(
                journal=self.journal,
                acknowledged=self.acknowledged,
                revision=revision.revision,
                destroys=getattr(revision.module, DESTROYS_FLAGGED, None),
                step=str(step),
                database_at=_as_tuple(revision.down_revision),
            )

    def step_done(self, **_: Any) -> None:
        # Called inside the step's transaction, just before its final commit.
        self.done += 1
        self._applied = True

    def committed(self, _connection: sa.Connection) -> None:
        if not self._applied:
            self.committed_partway = True

    def current_step(self, *, short: bool = False) -> str:
        """The step running now, as Alembic logs it (``short``: without its doc)."""
        if self.steps is None or self.done >= len(self.steps):
            return "the migration"
        step = self.steps[self.done]
        return str(getattr(step, "short_log", step)) if short else str(step)


def _as_tuple(revisions: str | Iterable[str] | None) -> tuple[str, ...]:
    if revisions is None:
        return ()
    return (revisions,) if isinstance(revisions, str) else tuple(revisions)
