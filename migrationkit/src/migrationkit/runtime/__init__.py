"""The live side of a migration run: what ``env.py`` calls, and what keeps it safe.

``run_migrations`` is the entry point; ``lock`` serialises concurrent runs,
``guards`` bounds lock waits and statement times, ``retry`` tries again after a
lock timeout and ``blockers`` names who was in the way.

``run_migrations`` is loaded on first use: the operations import small parts of
this package (the journal), and ``run_migrations`` imports the operations and
the autogenerate rewriter, so an eager import here would go round in a circle.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from migrationkit.runtime.migrate import run_migrations

__all__ = ["run_migrations"]


def __getattr__(name: str) -> Any:
    if name == "run_migrations":
        from migrationkit.runtime.migrate import run_migrations  # noqa: PLC0415

        return run_migrations
    raise AttributeError(f"module 'migrationkit.runtime' has no attribute {name!r}")
