"""How long proving a history takes: migrationkit prove against pytest-alembic.

``uv run python -m benchmarks.prove_speed`` times, interleaved in one process and
on the same server, ``migrationkit prove`` and pytest-alembic's four default tests
on this project's history, on a generated history of 100 revisions that passes,
and on one that fails (every eighth downgrade leaves a function behind), and
prints both with the machine and its load average. ``--project`` adds another
project's history (a public one, say), ``--repeat`` times each one more often.
"""
