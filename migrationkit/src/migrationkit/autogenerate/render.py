"""How autogenerate writes migrationkit's operations into a revision file.

Alembic renders each operation through ``renderers.dispatch_for``; these teach it
the safe operations of ``migrationkit.ops`` (as their registered ``op.`` form, so
a revision needs no extra import) and two wrappers the rewriter uses: a
one-line comment above an operation, and a block of comment lines standing for
work autogenerate must not guess.
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic.autogenerate.api import AutogenContext
from alembic.autogenerate.render import render_op, renderers
from alembic.operations import MigrateOperation

from migrationkit.ops.columns import AddNotNullOp
from migrationkit.ops.constraints import (
    AddForeignKeyNotValidOp,
    AddUniqueConstraintUsingIndexOp,
    ValidateConstraintOp,
)
from migrationkit.ops.enums import AddEnumValueOp, RemoveEnumValueOp
from migrationkit.ops.indexes import CreateIndexConcurrentlyOp, DropIndexConcurrentlyOp


class Commented(MigrateOperation):
    """An operation written with a one-line comment above it (what it avoids)."""

    def __init__(self, operation: MigrateOperation, *, comment: str) -> None:
        self.operation = operation
        self.comment = comment

    def reverse(self) -> MigrateOperation:
        return self.operation.reverse()


class CommentBlock(MigrateOperation):
    """Comment lines only: a plan the user completes, or what was left undone."""

    def __init__(self, lines: Sequence[str]) -> None:
        self.lines = list(lines)


def _call(name: str, *args: object, **keywords: object) -> str:
    """``op.name(arg, ..., key=value)``, leaving out keywords that are None/False."""
    parts = [repr(arg) for arg in args]
    parts += [f"{key}={value!r}" for key, value in keywords.items() if value]
    return f"op.{name}({', '.join(parts)})"


@renderers.dispatch_for(Commented)
def _commented(context: AutogenContext, operation: Commented) -> list[str]:
    return [f"# {operation.comment}", *render_op(context, operation.operation)]


@renderers.dispatch_for(CommentBlock)
def _comment_block(_context: AutogenContext, operation: CommentBlock) -> list[str]:
    return [f"# {line}".rstrip() for line in operation.lines]


@renderers.dispatch_for(CreateIndexConcurrentlyOp)
def _create_index(
    _context: AutogenContext, operation: CreateIndexConcurrentlyOp
) -> str:
    return _call(
        "create_index_concurrently",
        operation.index_name,
        operation.table_name,
        operation.columns,
        unique=operation.unique,
        where=operation.where,
        schema=operation.schema,
    )


@renderers.dispatch_for(DropIndexConcurrentlyOp)
def _drop_index(_context: AutogenContext, operation: DropIndexConcurrentlyOp) -> str:
    return _call(
        "drop_index_concurrently",
        operation.index_name,
        table_name=operation.table_name,
        schema=operation.schema,
    )


@renderers.dispatch_for(AddUniqueConstraintUsingIndexOp)
def _add_unique(
    _context: AutogenContext, operation: AddUniqueConstraintUsingIndexOp
) -> str:
    return _call(
        "add_unique_constraint_using_index",
        operation.constraint_name,
        operation.table_name,
        operation.columns,
        schema=operation.schema,
    )


@renderers.dispatch_for(AddForeignKeyNotValidOp)
def _add_foreign_key(
    _context: AutogenContext, operation: AddForeignKeyNotValidOp
) -> str:
    return _call(
        "add_foreign_key_not_valid",
        operation.constraint_name,
        operation.source_table,
        operation.referent_table,
        operation.local_cols,
        operation.remote_cols,
        ondelete=operation.ondelete,
        schema=operation.schema,
        referent_schema=operation.referent_schema,
    )


@renderers.dispatch_for(ValidateConstraintOp)
def _validate(_context: AutogenContext, operation: ValidateConstraintOp) -> str:
    return _call(
        "validate_constraint",
        operation.constraint_name,
        operation.table_name,
        schema=operation.schema,
    )


@renderers.dispatch_for(AddNotNullOp)
def _add_not_null(_context: AutogenContext, operation: AddNotNullOp) -> str:
    return _call(
        "add_not_null",
        operation.table_name,
        operation.column_name,
        schema=operation.schema,
    )


@renderers.dispatch_for(AddEnumValueOp)
def _add_enum_value(_context: AutogenContext, operation: AddEnumValueOp) -> str:
    return _call(
        "add_enum_value",
        operation.type_name,
        operation.value,
        before=operation.before,
        after=operation.after,
        schema=operation.schema,
    )


@renderers.dispatch_for(RemoveEnumValueOp)
def _remove_enum_value(_context: AutogenContext, operation: RemoveEnumValueOp) -> str:
    return _call(
        "remove_enum_value",
        operation.type_name,
        operation.value,
        schema=operation.schema,
    )
