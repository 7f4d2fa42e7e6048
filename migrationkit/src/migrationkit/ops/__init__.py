"""Schema and data changes that keep a busy PostgreSQL table readable and writable.

Call them from a revision's ``upgrade()``/``downgrade()`` as functions, or as
Alembic operations once this package is imported (``run_migrations`` imports it):
``op.create_index_concurrently(...)``, ``op.add_not_null(...)`` and so on. Each
docstring names the lock it takes and the one it avoids; each is safe to rerun
after a run cut short; ``schema=None`` means the search path, as in Alembic.

By job: ``indexes`` (concurrent builds and drops), ``constraints`` (UNIQUE from
an index, foreign keys NOT VALID, validation), ``columns`` (NOT NULL without a
locked scan), ``enums`` (values added outside a transaction, removed by a
rebuild), ``backfill`` (batched data changes), ``catalog`` (what exists).
"""

from migrationkit.ops.backfill import backfill_in_batches, batch_options_from_x
from migrationkit.ops.catalog import require_server_version
from migrationkit.ops.columns import add_not_null, add_not_null_column
from migrationkit.ops.constraints import (
    add_foreign_key_not_valid,
    add_unique_constraint_using_index,
    validate_constraint,
)
from migrationkit.ops.enums import add_enum_value, remove_enum_value
from migrationkit.ops.indexes import create_index_concurrently, drop_index_concurrently
from migrationkit.ops.safety import safe_operation
from migrationkit.runtime.review import flag_for_review

__all__ = [
    "add_enum_value",
    "add_foreign_key_not_valid",
    "add_not_null",
    "add_not_null_column",
    "add_unique_constraint_using_index",
    "backfill_in_batches",
    "batch_options_from_x",
    "create_index_concurrently",
    "drop_index_concurrently",
    "flag_for_review",
    "remove_enum_value",
    "require_server_version",
    "safe_operation",
    "validate_constraint",
]
