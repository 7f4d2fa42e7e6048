"""Schema and data changes that keep a busy PostgreSQL table readable and writable.

Call them from a revision's ``upgrade()``/``downgrade()``; each docstring names the
lock it takes and the one it avoids.
"""

from migrationkit.ops.backfill import backfill_in_batches, batch_options_from_x
from migrationkit.ops.operations import (
    add_foreign_key_not_valid,
    add_not_null,
    add_not_null_column,
    add_unique_constraint_using_index,
    create_index_concurrently,
    drop_index_concurrently,
    require_server_version,
    validate_constraint,
)

__all__ = [
    "add_foreign_key_not_valid",
    "add_not_null",
    "add_not_null_column",
    "add_unique_constraint_using_index",
    "backfill_in_batches",
    "batch_options_from_x",
    "create_index_concurrently",
    "drop_index_concurrently",
    "require_server_version",
    "validate_constraint",
]
