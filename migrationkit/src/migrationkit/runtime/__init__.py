"""The live side of a migration run: what ``env.py`` calls, and what keeps it safe.

``run_migrations`` is the entry point; ``lock`` serialises concurrent runs,
``guards`` bounds lock waits and statement times, ``retry`` tries again after a
lock timeout and ``blockers`` names who was in the way.
"""

from migrationkit.runtime.migrate import run_migrations

__all__ = ["run_migrations"]
