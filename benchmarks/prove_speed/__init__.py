"""How long proving a history takes: migrationkit prove against pytest-alembic.

``uv run python -m benchmarks.prove_speed`` times, in one run and on the same
server, ``migrationkit prove`` and pytest-alembic's four default tests on this
project's history and on a generated history of 100 revisions, and prints both.
"""
