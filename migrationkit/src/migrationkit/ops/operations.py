"""Schema changes that keep a busy PostgreSQL table readable and writable.

Alembic's own operations take the simple path: ``op.create_index`` holds a SHARE
lock (no writes) for the whole build, ``nullable=False`` and a new foreign key scan
the table under an ACCESS EXCLUSIVE or SHARE ROW EXCLUSIVE lock. On ten million
rows that is seconds to minutes of stalled traffic. Each function here does the
same change in steps whose heavy part runs under a lock that lets writes continue,
and whose brief part takes the strong lock without scanning anything.

Call them from a revision's ``upgrade()``/``downgrade()``. Several commit the
revision's work so far (Alembic's ``autocommit_block``), so each is idempotent: a
rerun after a failure finds what was already done and carries on.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.exc import DBAPIError

from migrationkit.errors import MigrationKitError
from migrationkit.ops.backfill import DEFAULT_BATCH_SIZE, backfill_in_batches
from migrationkit.pg import sqlstate_of

log = logging.getLogger(__name__)

_UNIQUE_VIOLATION = "23505"
_CHECK_VIOLATION = "23514"
_FOREIGN_KEY_VIOLATION = "23503"
_MAX_IDENTIFIER = 63


# --------------------------------------------------------------------- indexes


def create_index_concurrently(
    index_name: str,
    table_name: str,
    columns: Sequence[str],
    *,
    unique: bool = False,
    where: str | None = None,
) -> None:
    """Build an index with ``CREATE [UNIQUE] INDEX CONCURRENTLY``.

    Lock taken: SHARE UPDATE EXCLUSIVE on the table (reads and writes go on; only
    other DDL and VACUUM wait). Lock avoided: the SHARE lock of a plain
    ``CREATE INDEX``, which blocks every INSERT/UPDATE/DELETE for the whole build.

    ``CONCURRENTLY`` cannot run in a transaction, so this runs in Alembic's
    ``autocommit_block`` (the revision's work so far is committed first). A failed
    concurrent build leaves an INVALID index behind that ``IF NOT EXISTS`` would
    happily keep: an existing INVALID index of this name is dropped and rebuilt, a
    VALID one is left alone. If the build fails (duplicates for a unique index),
    its leftover is dropped and a ``MigrationKitError`` says why.
    """
    context = op.get_context()
    with context.autocommit_block():
        if context.as_sql:
            _emit_create_index(index_name, table_name, columns, unique, where)
            return
        existing = _index_state(index_name)
        if existing is not None:
            if existing.table_name != table_name:
                raise MigrationKitError(
                    f"Cannot create index {index_name!r} on {table_name!r}: an index "
                    f"of that name already exists on {existing.table_name!r}. "
                    "Index names are unique per schema; pick another name."
                )
            if existing.valid:
                if unique and not existing.unique:
                    raise MigrationKitError(
                        f"Index {index_name!r} on {table_name!r} exists but is not "
                        "UNIQUE. Drop it (drop_index_concurrently) or use another "
                        "name, then run the migration again."
                    )
                log.info("index %s on %s exists and is valid", index_name, table_name)
                return
            log.warning(
                "index %s on %s is INVALID (left by an earlier failed concurrent "
                "build); dropping it and building it again",
                index_name,
                table_name,
            )
            _drop_index(index_name, table_name)
        try:
            _emit_create_index(index_name, table_name, columns, unique, where)
        except DBAPIError as exc:
            _drop_leftover_index(index_name, table_name)
            if sqlstate_of(exc) != _UNIQUE_VIOLATION:
                raise  # lock timeouts stay themselves, so env.py can retry them
            raise _duplicates_error(exc, index_name, table_name, columns) from exc


def drop_index_concurrently(index_name: str, *, table_name: str | None = None) -> None:
    """Drop an index with ``DROP INDEX CONCURRENTLY IF EXISTS``.

    Lock taken: SHARE UPDATE EXCLUSIVE on the table, after waiting for the
    transactions using it. Lock avoided: the ACCESS EXCLUSIVE lock of a plain
    ``DROP INDEX``, which blocks even reads of the table while it waits in line.
    Runs in Alembic's ``autocommit_block``; dropping a missing index is a no-op.
    """
    with op.get_context().autocommit_block():
        _drop_index(index_name, table_name)


def add_unique_constraint_using_index(
    constraint_name: str, table_name: str, columns: Sequence[str]
) -> None:
    """Add a UNIQUE constraint backed by an index built concurrently.

    Locks taken: SHARE UPDATE EXCLUSIVE during the concurrent unique index build
    (writes go on), then ACCESS EXCLUSIVE for ``ADD CONSTRAINT ... UNIQUE USING
    INDEX``, which only records the constraint (no scan, milliseconds). Lock
    avoided: ``ADD CONSTRAINT ... UNIQUE`` builds its index under ACCESS
    EXCLUSIVE, blocking reads and writes for the whole build.

    The index and the constraint share ``constraint_name``. Idempotent: an
    existing constraint of that name on the table ends the work.
    """
    if _online() and _constraint_state(constraint_name, table_name) is not None:
        log.info("constraint %s on %s exists", constraint_name, table_name)
        return
    create_index_concurrently(constraint_name, table_name, columns, unique=True)
    name, table = _quote(constraint_name), _quote(table_name)
    op.execute(f"ALTER TABLE {table} ADD CONSTRAINT {name} UNIQUE USING INDEX {name}")


# ------------------------------------------------------------------ NOT NULL


def add_not_null(table_name: str, column_name: str) -> None:
    """Make a column NOT NULL without scanning the table under ACCESS EXCLUSIVE.

    Steps: ``ADD CONSTRAINT ... CHECK (col IS NOT NULL) NOT VALID`` (ACCESS
    EXCLUSIVE for milliseconds, no scan; new rows are checked from now on), then
    ``VALIDATE CONSTRAINT`` in its own transaction (the scan, under SHARE UPDATE
    EXCLUSIVE: reads and writes go on), then ``SET NOT NULL``, which PostgreSQL 12+
    proves from the validated check instead of scanning, and finally the helper
    check is dropped. Lock avoided: a bare ``SET NOT NULL`` holds ACCESS
    EXCLUSIVE (no reads, no writes) while it scans every row.

    Idempotent: a column already NOT NULL only loses a leftover helper check.
    If NULLs remain, the helper check is removed again and a
    ``MigrationKitError`` says how many rows need a value.
    """
    check = _not_null_check_name(table_name, column_name)
    table, column, check_sql = _quote(table_name), _quote(column_name), _quote(check)
    state = None
    if _online():
        not_null = _column_not_null(table_name, column_name)
        if not_null is None:
            raise MigrationKitError(
                f"Cannot make {table_name}.{column_name} NOT NULL: the table has no "
                "such column."
            )
        state = _constraint_state(check, table_name)
        if not_null:
            if state is not None:
                op.execute(f"ALTER TABLE {table} DROP CONSTRAINT {check_sql}")
            log.info("%s.%s is already NOT NULL", table_name, column_name)
            return
    if state is None:
        op.execute(
            f"ALTER TABLE {table} ADD CONSTRAINT {check_sql} "
            f"CHECK ({column} IS NOT NULL) NOT VALID"
        )
    context = op.get_context()
    with context.autocommit_block():
        try:
            _validate(check, table_name)
        except DBAPIError as exc:
            if sqlstate_of(exc) != _CHECK_VIOLATION:
                raise
            nulls = _count_nulls(table_name, column_name)
            op.execute(f"ALTER TABLE {table} DROP CONSTRAINT IF EXISTS {check_sql}")
            raise MigrationKitError(
                f"Cannot make {table_name}.{column_name} NOT NULL: {nulls} row(s) "
                "still hold NULL there. A NOT NULL column needs a value in every "
                "row; fill them first (for example with "
                "migrationkit.ops.backfill.backfill_in_batches in an earlier step), "
                "then run the migration again."
            ) from exc
    op.execute(f"ALTER TABLE {table} ALTER COLUMN {column} SET NOT NULL")
    op.execute(f"ALTER TABLE {table} DROP CONSTRAINT {check_sql}")


def add_not_null_column(
    table_name: str,
    column: sa.Column[Any],
    *,
    backfill_sql: str,
    batch_size: int = DEFAULT_BATCH_SIZE,
    key: str = "id",
) -> None:
    """Add a NOT NULL column to a filled table: add nullable, backfill, then NOT NULL.

    ``backfill_sql`` is the SQL expression giving existing rows their value (for
    example ``split_part(email, '@', 1)``). Locks: ACCESS EXCLUSIVE for the
    catalog-only ``ADD COLUMN`` (milliseconds), ROW EXCLUSIVE and per-batch row
    locks during ``backfill_in_batches``, then those of ``add_not_null``. Avoided:
    a NOT NULL column with a volatile default, or a single UPDATE, which rewrite or
    lock every row in one long transaction.
    """
    if not _online() or _column_not_null(table_name, column.name) is None:
        nullable = column._copy()
        nullable.nullable = True
        op.add_column(table_name, nullable)
    name = _quote(column.name)
    backfill_in_batches(
        table=table_name,
        set_sql=f"{name} = {backfill_sql}",
        pending_sql=f"{name} IS NULL",
        key=key,
        batch_size=batch_size,
        label=f"{table_name}.{column.name}",
    )
    add_not_null(table_name, column.name)


# ------------------------------------------------------------ foreign keys


def add_foreign_key_not_valid(
    constraint_name: str,
    source_table: str,
    referent_table: str,
    local_cols: Sequence[str],
    remote_cols: Sequence[str],
    *,
    ondelete: str | None = None,
) -> None:
    """Add a foreign key ``NOT VALID``, then validate it in a separate transaction.

    Locks taken: SHARE ROW EXCLUSIVE on both tables for the catalog-only ``ADD
    CONSTRAINT ... NOT VALID`` (milliseconds; new rows are checked from then on),
    then for ``VALIDATE CONSTRAINT`` SHARE UPDATE EXCLUSIVE on the source table
    and ROW SHARE on the referenced one, under which reads and writes go on while
    existing rows are checked. Lock avoided: a plain ``ADD FOREIGN KEY`` holds
    SHARE ROW EXCLUSIVE (no writes to either table) during the whole check.

    Idempotent: an existing constraint of that name is only validated.
    """
    state = _constraint_state(constraint_name, source_table) if _online() else None
    if state is None:
        op.create_foreign_key(
            constraint_name,
            source_table,
            referent_table,
            list(local_cols),
            list(remote_cols),
            ondelete=ondelete,
            postgresql_not_valid=True,
        )
    elif state.validated:
        log.info("foreign key %s on %s exists", constraint_name, source_table)
        return
    validate_constraint(constraint_name, source_table)


def validate_constraint(constraint_name: str, table_name: str) -> None:
    """``ALTER TABLE ... VALIDATE CONSTRAINT`` in a transaction of its own.

    Lock taken: SHARE UPDATE EXCLUSIVE on the table (plus ROW SHARE on the
    referenced table of a foreign key): reads and writes go on during the scan.
    Lock avoided: the ACCESS EXCLUSIVE / SHARE ROW EXCLUSIVE a constraint added
    without ``NOT VALID`` holds while it checks every row. Runs in Alembic's
    ``autocommit_block``, so the lock is released as soon as the check ends.
    """
    with op.get_context().autocommit_block():
        try:
            _validate(constraint_name, table_name)
        except DBAPIError as exc:
            state = sqlstate_of(exc)
            if state not in {_CHECK_VIOLATION, _FOREIGN_KEY_VIOLATION}:
                raise
            raise MigrationKitError(
                f"Constraint {constraint_name!r} on {table_name!r} cannot be "
                f"validated: existing rows break it ({_detail(exc)}). It stays "
                "NOT VALID (new rows are still checked). Fix or remove those rows, "
                "then run the migration again."
            ) from exc


# ----------------------------------------------------------------- internals


@dataclass(frozen=True)
class _IndexState:
    table_name: str
    valid: bool
    unique: bool


@dataclass(frozen=True)
class _ConstraintState:
    kind: str
    validated: bool


def require_server_version(major: int, *, feature: str) -> None:
    """Refuse, before any change, a server too old for what the revision uses.

    Takes no lock. Without it the revision would fail half-way with PostgreSQL's
    own "function does not exist"; in ``--sql`` mode there is no server to ask,
    so the check is skipped.
    """
    if not _online():
        return
    found = op.get_bind().dialect.server_version_info or (0,)
    if int(found[0]) < major:
        shown = ".".join(str(part) for part in found)
        raise MigrationKitError(
            f"This revision needs PostgreSQL {major} or newer ({feature}); the "
            f"server runs {shown}. Nothing was changed by it: upgrade the server, "
            "then run `alembic upgrade head` again."
        )


def _online() -> bool:
    return not op.get_context().as_sql


def _quote(name: str) -> str:
    return op.get_context().dialect.identifier_preparer.quote(name)


def _query(sql: str, **params: Any) -> sa.Row[Any] | None:
    return op.get_bind().execute(sa.text(sql), params).first()


def _index_state(index_name: str) -> _IndexState | None:
    row = _query(
        "SELECT t.relname AS table_name, i.indisvalid AS valid,"
        "       i.indisunique AS is_unique"
        "  FROM pg_index i JOIN pg_class t ON t.oid = i.indrelid"
        " WHERE i.indexrelid = to_regclass(quote_ident(:name))",
        name=index_name,
    )
    return (
        None if row is None else _IndexState(row.table_name, row.valid, row.is_unique)
    )


def _constraint_state(constraint_name: str, table_name: str) -> _ConstraintState | None:
    row = _query(
        "SELECT contype, convalidated FROM pg_constraint"
        " WHERE conname = :name AND conrelid = to_regclass(quote_ident(:table))",
        name=constraint_name,
        table=table_name,
    )
    return None if row is None else _ConstraintState(row.contype, row.convalidated)


def _column_not_null(table_name: str, column_name: str) -> bool | None:
    """True/False for NOT NULL or nullable, None when there is no such column."""
    row = _query(
        "SELECT attnotnull FROM pg_attribute"
        " WHERE attrelid = to_regclass(quote_ident(:table)) AND attname = :column"
        "   AND attnum > 0 AND NOT attisdropped",
        table=table_name,
        column=column_name,
    )
    return None if row is None else bool(row.attnotnull)


def _count_nulls(table_name: str, column_name: str) -> str:
    table, column = _quote(table_name), _quote(column_name)
    row = _query(
        f"SELECT count(*) AS n FROM (SELECT 1 FROM {table}"
        f" WHERE {column} IS NULL LIMIT 1001) AS nulls"
    )
    count = 0 if row is None else int(row.n)
    return "more than 1000" if count > 1000 else str(count)


def _not_null_check_name(table_name: str, column_name: str) -> str:
    """The helper check's name: recognisable, and within PostgreSQL's 63 bytes."""
    name = f"ck_{table_name}_{column_name}_not_null_tmp"
    if len(name.encode()) <= _MAX_IDENTIFIER:
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:8]
    return f"ck_{table_name}_{column_name}"[:44] + f"_{digest}_not_null_tmp"


def _validate(constraint_name: str, table_name: str) -> None:
    table, constraint = _quote(table_name), _quote(constraint_name)
    op.execute(f"ALTER TABLE {table} VALIDATE CONSTRAINT {constraint}")


def _emit_create_index(
    index_name: str,
    table_name: str,
    columns: Sequence[str],
    unique: bool,  # noqa: FBT001 - private, mirrors the public keyword
    where: str | None,
) -> None:
    op.create_index(
        index_name,
        table_name,
        list(columns),
        unique=unique,
        postgresql_concurrently=True,
        postgresql_where=sa.text(where) if where else None,
    )


def _drop_index(index_name: str, table_name: str | None) -> None:
    op.drop_index(
        index_name, table_name=table_name, postgresql_concurrently=True, if_exists=True
    )


def _drop_leftover_index(index_name: str, table_name: str) -> None:
    """After a failed build: drop its INVALID index, or leave it for the next run."""
    try:
        _drop_index(index_name, table_name)
    except DBAPIError as exc:
        log.warning(
            "could not drop the INVALID index %s left by the failed build (%s); "
            "the next run drops and rebuilds it",
            index_name,
            _detail(exc),
        )


def _duplicates_error(
    exc: DBAPIError, index_name: str, table_name: str, columns: Sequence[str]
) -> MigrationKitError:
    return MigrationKitError(
        f"Cannot build unique index {index_name!r} on {table_name}"
        f"({', '.join(columns)}): the table holds duplicate values ({_detail(exc)}). "
        "The half-built INVALID index was dropped. Resolve the duplicates (for "
        "example in a data migration before this step), then run the migration again."
    )


def _detail(exc: DBAPIError) -> str:
    """The server's one-line message, plus its DETAIL when it has one."""
    orig = exc.orig
    diag = getattr(orig, "diag", None)
    primary = getattr(diag, "message_primary", None) or str(orig).splitlines()[0]
    detail = getattr(diag, "message_detail", None)
    return f"{primary}: {detail}" if detail else str(primary)
