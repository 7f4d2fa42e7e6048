"""Data migrations that never hold a big table's rows for long.

One ``UPDATE users SET ...`` over ten million rows is one transaction: every row it
touches stays locked until the end, concurrent writers to those rows queue behind
it, replicas lag, and a crash at 99% throws all the work away. ``backfill_in_batches``
walks the table in key order (keyset pagination, no OFFSET) and commits every
batch on its own, so each row lock lasts one batch and an interrupted run keeps
everything it committed: a rerun only touches rows that still need the change.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from alembic import context, op
from alembic.operations import MigrateOperation, Operations

from migrationkit.errors import MigrationKitError
from migrationkit.ops.safety import safe_operation
from migrationkit.pg import qualified_name, quote_identifier
from migrationkit.progress import Progress
from migrationkit.runtime.journal import note_progress

DEFAULT_BATCH_SIZE = 2_000
"""Rows per batch. A concurrent write to a row of the batch in flight waits for
that batch to commit, so the batch's duration is the worst stall a backfill can
cause: on the benchmark machine 10,000 rows took ~130 ms, 2,000 stay well under
the 50 ms goal while costing little throughput."""

EXACT_COUNT_BELOW = 1_000_000
"""Tables estimated smaller than this get an exact count of pending rows for the
progress display; bigger ones use the planner's estimate (``pg_class.reltuples``)
rather than a full scan before the work even starts."""


def batch_options_from_x() -> tuple[int, float]:
    """Batch size and pause a revision's backfill should use, from Alembic's -x.

    ``alembic -x backfill_batch_size=500 -x backfill_pause=0.05 upgrade head``
    gives a busy database more room; the defaults are ``DEFAULT_BATCH_SIZE`` and
    no pause.
    """
    options = context.get_x_argument(as_dictionary=True)
    raw_size = options.get("backfill_batch_size", str(DEFAULT_BATCH_SIZE))
    raw_pause = options.get("backfill_pause", "0")
    try:
        size, pause = int(raw_size), float(raw_pause)
    except ValueError:
        size, pause = 0, -1.0
    if size <= 0 or pause < 0:
        raise MigrationKitError(
            f"-x backfill_batch_size={raw_size!r} / -x backfill_pause={raw_pause!r}: "
            "expected a positive whole number of rows and a number of seconds, for "
            "example -x backfill_batch_size=5000 -x backfill_pause=0.1"
        )
    return size, pause


@safe_operation("backfill_in_batches")
@Operations.register_operation("backfill_in_batches")
class BackfillOp(MigrateOperation):
    """``op.backfill_in_batches(...)``: a registered Alembic operation."""

    def __init__(
        self,
        *,
        table: str,
        set_sql: str,
        pending_sql: str,
        key: str = "id",
        batch_size: int = DEFAULT_BATCH_SIZE,
        pause_seconds: float = 0.0,
        label: str | None = None,
        schema: str | None = None,
    ) -> None:
        if batch_size < 1:
            raise MigrationKitError(f"batch_size must be at least 1, got {batch_size}.")
        if pause_seconds < 0:
            raise MigrationKitError(
                f"pause_seconds must not be negative: {pause_seconds}"
            )
        self.job = _Backfill(
            table=table,
            schema=schema,
            set_sql=set_sql,
            pending_sql=pending_sql,
            key=key,
            batch_size=batch_size,
            pause_seconds=pause_seconds,
            label=label or table,
        )

    @classmethod
    def backfill_in_batches(
        cls,
        operations: Operations,
        *,
        table: str,
        set_sql: str,
        pending_sql: str,
        key: str = "id",
        batch_size: int = DEFAULT_BATCH_SIZE,
        pause_seconds: float = 0.0,
        label: str | None = None,
        schema: str | None = None,
    ) -> int:
        """UPDATE in committed batches (row locks for one batch only); see
        ``migrationkit.ops.backfill_in_batches``."""
        updated: int = operations.invoke(
            cls(
                table=table,
                set_sql=set_sql,
                pending_sql=pending_sql,
                key=key,
                batch_size=batch_size,
                pause_seconds=pause_seconds,
                label=label,
                schema=schema,
            )
        )
        return updated


def backfill_in_batches(
    *,
    table: str,
    set_sql: str,
    pending_sql: str,
    key: str = "id",
    batch_size: int = DEFAULT_BATCH_SIZE,
    pause_seconds: float = 0.0,
    label: str | None = None,
    schema: str | None = None,
    connection: sa.Connection | None = None,
) -> int:
    """Apply ``SET <set_sql>`` to every row matching ``pending_sql``, a batch at a time.

    Each batch is one statement::

        UPDATE <table> SET <set_sql>
         WHERE <key> = ANY(ARRAY(SELECT <key> FROM <table>
                                 WHERE <key> > :last AND (<pending_sql>)
                                 ORDER BY <key> LIMIT :batch_size))

    committed on its own. Locks: ROW EXCLUSIVE on the table (the lock every
    INSERT/UPDATE takes, so reads and writes go on) and row locks on at most
    ``batch_size`` rows, held for one batch only. Avoided: the whole-table row
    locking, the long transaction (bloat, replication lag) and the all-or-nothing
    crash risk of one big ``UPDATE``.

    Resumable: ``pending_sql`` must become false once a row is done (for example
    ``username IS NULL`` with ``set_sql`` ``username = ...``), so a rerun after an
    interruption only finds what is left. Rows are walked by ``key``, so a row
    whose ``set_sql`` leaves it pending is passed over, never retried forever.
    New rows written during the backfill must get the value from the application
    (or a default); otherwise rerun the backfill afterwards.

    Inside a revision (no ``connection``) the batches run in Alembic's
    ``autocommit_block``: whatever the revision did before is committed first.
    With ``connection``, each batch is committed on that connection.
    ``pause_seconds`` sleeps between batches to leave the server room for its
    regular load; ``schema=None`` means the search path. Progress goes to stderr.
    Returns the number of rows updated.
    """
    operation = BackfillOp(
        table=table,
        set_sql=set_sql,
        pending_sql=pending_sql,
        key=key,
        batch_size=batch_size,
        pause_seconds=pause_seconds,
        label=label,
        schema=schema,
    )
    if connection is not None:
        return operation.job.run(connection, commit_each_batch=True)
    updated: int = op.invoke(operation)
    return updated


@Operations.implementation_for(BackfillOp)
def _backfill_in_batches(operations: Operations, operation: BackfillOp) -> int:
    migration = operations.get_context()
    if migration.as_sql:
        operation.job.emit_offline(operations)
        return 0
    with migration.autocommit_block():
        return operation.job.run(operations.get_bind(), commit_each_batch=False)


@dataclass(frozen=True, kw_only=True)
class _Backfill:
    table: str
    schema: str | None
    set_sql: str
    pending_sql: str
    key: str
    batch_size: int
    pause_seconds: float
    label: str

    def statements(self) -> tuple[sa.TextClause, sa.TextClause]:
        """The first batch's statement and the one for every batch after it."""
        table = qualified_name(self.table, schema=self.schema)
        key = quote_identifier(self.key)

        def batch(after_last: str) -> sa.TextClause:
            # ``picked`` decides where the next batch starts, even if some picked
            # rows vanish (deleted concurrently) before the UPDATE reaches them.
            # ``= ANY(ARRAY(...))`` makes the UPDATE probe the key's index for
            # the picked rows; ``IN (SELECT ...)`` lets the planner choose a hash
            # join that reads the whole table for every batch.
            return sa.text(
                f"WITH picked AS ("
                f" SELECT {key} FROM {table}"
                f" WHERE {after_last}({self.pending_sql})"
                f" ORDER BY {key} LIMIT :batch_size),"
                f" updated AS ("
                f" UPDATE {table} SET {self.set_sql}"
                f" WHERE {key} = ANY(ARRAY(SELECT {key} FROM picked)) RETURNING 1)"
                f" SELECT (SELECT count(*) FROM updated) AS updated,"
                f" (SELECT count(*) FROM picked) AS picked,"
                f" (SELECT {key} FROM picked ORDER BY {key} DESC LIMIT 1) AS last_key"
            )

        return batch(""), batch(f"{key} > :last AND ")

    def run(self, connection: sa.Connection, *, commit_each_batch: bool) -> int:
        first, after = self.statements()
        total, exact = self.estimate_pending(connection)
        progress = Progress(
            label=f"migrationkit: backfill {self.label}",
            total=total,
            exact=exact,
            log_every=1.0,
        )
        if commit_each_batch:
            connection.commit()
        done = 0
        last: Any = None
        try:
            while True:
                params: dict[str, Any] = {"batch_size": self.batch_size}
                if last is not None:
                    params["last"] = last
                row = connection.execute(first if last is None else after, params).one()
                # the ledger's count commits with the batch (resumes say where)
                note_progress(connection, label=self.label, rows=row.updated)
                if commit_each_batch:
                    connection.commit()
                if row.picked == 0:
                    break
                done += row.updated
                last = row.last_key
                progress.update(done)
                if row.picked < self.batch_size:
                    break
                if self.pause_seconds:
                    time.sleep(self.pause_seconds)
        except BaseException:
            progress.finish(
                f"migrationkit: backfill {self.label} interrupted after {done:,} "
                "rows (every finished batch is committed; run it again to resume)"
            )
            raise
        progress.finish(
            f"{progress.label}: {done:,} rows updated in {progress.elapsed()}"
        )
        return done

    def estimate_pending(self, connection: sa.Connection) -> tuple[int, bool]:
        """(rows, exact): an exact count on small tables, the planner's guess else."""
        table = qualified_name(self.table, schema=self.schema)
        reltuples = connection.execute(
            sa.text("SELECT reltuples FROM pg_class WHERE oid = to_regclass(:table)"),
            {"table": table},
        ).scalar()
        if reltuples is None:
            where = (
                f"in schema {self.schema!r}" if self.schema else "in the search_path"
            )
            raise MigrationKitError(
                f"Cannot backfill {self.table!r}: no such table {where}."
            )
        if reltuples >= EXACT_COUNT_BELOW:
            return int(reltuples), False
        count = connection.execute(
            sa.text(f"SELECT count(*) FROM {table} WHERE ({self.pending_sql})")
        ).scalar_one()
        return int(count), True

    def emit_offline(self, operations: Operations) -> None:
        """``--sql`` mode cannot loop: show the work as one reviewed statement."""
        operations.get_context().impl.static_output(
            f"-- migrationkit: backfill {self.label} runs in batches of "
            f"{self.batch_size} when migrating online; shown here as one UPDATE."
        )
        table = qualified_name(self.table, schema=self.schema)
        operations.execute(
            f"UPDATE {table} SET {self.set_sql} WHERE ({self.pending_sql})"
        )
