"""The one place that reaches into Alembic's private API: a retry never overshoots.

Alembic computes a run's steps from the version table each time
``MigrationContext.run_migrations()`` is called. For ``head`` a retry after a lock
timeout therefore resumes correctly, but a relative target (``upgrade +2``) would be
counted again from the new position and go too far. So the first attempt's plan is
kept, and finished steps are counted through the public ``on_version_apply`` hook.

Alembic has no public way to replace a context's step function, so this module sets
``MigrationContext._migrations_fn``. ``tests/test_alembic_internals.py`` fails
loudly if a new Alembic release renames or reshapes it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any
from weakref import WeakKeyDictionary

from alembic.runtime.migration import MigrationContext

from migrationkit.errors import MigrationKitError

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
    steps: list[Any] | None = None
    done: int = 0

    @classmethod
    def install(cls, context: MigrationContext) -> ResumablePlan:
        original = getattr(context, "_migrations_fn", None)
        if not callable(original):
            raise MigrationKitError(
                "This Alembic version has no MigrationContext._migrations_fn, which "
                "migrationkit's lock-timeout retry relies on. Install an Alembic "
                "version within migrationkit's supported range."
            )
        plan = cls(migrations_fn=original)
        context._migrations_fn = plan.remaining
        context.on_version_apply_callbacks = (
            *context.on_version_apply_callbacks,
            plan.step_done,
        )
        _INSTALLED[context] = plan
        return plan

    @classmethod
    def installed_on(cls, context: MigrationContext) -> ResumablePlan | None:
        """The plan ``install`` put on ``context``, if any (for failure messages)."""
        return _INSTALLED.get(context)

    def step_in_flight(self) -> Any | None:
        """The step running now (or next to run), None before planning or after
        the last step."""
        if self.steps is None or self.done >= len(self.steps):
            return None
        return self.steps[self.done]

    def remaining(self, heads: Any, context: MigrationContext) -> list[Any]:
        if self.steps is None:
            self.steps = list(self.migrations_fn(heads, context))
        return self.steps[self.done :]

    def step_done(self, **_: Any) -> None:
        self.done += 1

    def current_step(self) -> str:
        if self.steps is None or self.done >= len(self.steps):
            return "the migration"
        return str(self.steps[self.done])
