"""Data migrations that never hold a big table's rows for long.

One ``UPDATE users SET ...`` over ten million rows is one transaction: every row it
touches stays locked until the end, concurrent writers to those rows queue behind
it, replicas lag, and a crash at 99% throws all the work away. ``backfill_in_batches``
walks the table in key order (keyset pagination, no OFFSET) and commits every
batch on its own, so each row lock lasts one batch and an interrupted run keeps
everything it committed: a rerun only touches rows that still need the change.

Two ways to cut the table into batches:

``ctid`` (the default on PostgreSQL 14+)
    Page ranges, ``WHERE ctid >= '(p,0)' AND ctid < '(q,0)'``: a TID range scan
    reads exactly those pages, in physical order, with no index probe per row,
    so the batches together cost about what one whole-table UPDATE costs. The
    last page is the relation's size when the backfill starts: rows written
    later (on new pages) are left to the trigger or the application. Rows the
    application *moves* by updating them during the pass can land on a page
    already passed; the pending predicate finds them on a rerun.
``keyset``
    Key order (``WHERE key > :last ORDER BY key LIMIT n``): one index probe per
    row, slower, but it serves where ctid ranges cannot (PostgreSQL before 14,
    partitioned tables) and never visits a row twice even if ``set_sql``
    leaves it pending.

Either way the batch grows or shrinks towards a target duration (a batch's
row locks last as long as the batch), and between batches a cheap probe query
is timed, lock waits and replication lag are read: when the application would
feel the backfill, it pauses and shrinks its batches, and while a standby's
replay lags beyond the limit it waits (``throttle.py``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Literal, Protocol

import sqlalchemy as sa
from alembic import context, op
from alembic.operations import MigrateOperation, Operations

from migrationkit.errors import MigrationKitError
from migrationkit.ops.safety import safe_operation
from migrationkit.ops.throttle import (
    TID_RANGE_SCAN_SINCE,
    BackfillReport,
    Pacer,
    Throttle,
)
from migrationkit.pg import qualified_name, quote_identifier
from migrationkit.progress import Progress
from migrationkit.runtime.journal import note_progress

__all__ = [
    "DEFAULT_BATCH_SIZE",
    "DEFAULT_TARGET_BATCH_SECONDS",
    "EXACT_COUNT_BELOW",
    "STRATEGIES",
    "BackfillOp",
    "BackfillReport",
    "Checkpoint",
    "PendingRowsAreTheRecord",
    "Strategy",
    "Throttle",
    "backfill_in_batches",
    "batch_options_from_x",
    "run_backfill",
    "strategy_from_x",
    "target_seconds_from_x",
]

DEFAULT_BATCH_SIZE = 2_000
"""Rows in the first batch; later batches follow ``target_batch_seconds``."""

DEFAULT_TARGET_BATCH_SECONDS = 0.04
"""A concurrent write to a row of the batch in flight waits for that batch to
commit, so the batch's duration is the worst stall a backfill can cause: 40 ms
keeps it under the 50 ms goal while each commit's cost stays small."""

EXACT_COUNT_BELOW = 1_000_000
"""Tables estimated smaller than this get an exact count of pending rows for the
progress display; bigger ones use the planner's estimate (``pg_class.reltuples``)
rather than a full scan before the work even starts."""

Strategy = Literal["auto", "ctid", "keyset"]
STRATEGIES: tuple[Strategy, ...] = ("auto", "ctid", "keyset")


class Checkpoint(Protocol):
    """Where a ctid pass records how far it got (the seam for a ledger table).

    The default records nothing: the rows themselves are the record (the
    pending predicate), so a rerun walks the pages again and skips done rows.
    """

    def load(self, label: str) -> tuple[int, int] | None:
        """(next page, last page + 1) of an interrupted pass, or None."""

    def save(self, label: str, *, next_page: int, end_page: int) -> None: ...

    def clear(self, label: str) -> None: ...


class PendingRowsAreTheRecord:
    """The default :class:`Checkpoint`: nothing stored, the data says what is left."""

    def load(self, label: str) -> tuple[int, int] | None:
        return None

    def save(self, label: str, *, next_page: int, end_page: int) -> None:
        return None

    def clear(self, label: str) -> None:
        return None


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


def target_seconds_from_x() -> float | None:
    """How long each batch should take: the default, unless the operator fixed
    the size with ``-x backfill_batch_size=N`` (then every batch has N rows), or
    set ``-x backfill_target_seconds=0.1`` (0: fixed size)."""
    options = context.get_x_argument(as_dictionary=True)
    raw = options.get("backfill_target_seconds")
    if raw is None:
        fixed = "backfill_batch_size" in options
        return None if fixed else DEFAULT_TARGET_BATCH_SECONDS
    try:
        seconds = float(raw)
    except ValueError:
        seconds = -1.0
    if seconds < 0:
        raise MigrationKitError(
            f"-x backfill_target_seconds={raw!r}: expected a number of seconds "
            "(0 keeps every batch at backfill_batch_size rows)"
        )
    return seconds or None


def strategy_from_x() -> Strategy:
    """``-x backfill_strategy=keyset`` (or ``ctid``; default ``auto``)."""
    raw = context.get_x_argument(as_dictionary=True).get("backfill_strategy", "auto")
    for strategy in STRATEGIES:
        if raw == strategy:
            return strategy
    raise MigrationKitError(
        f"-x backfill_strategy={raw!r}: expected one of {', '.join(STRATEGIES)}"
    )


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
        strategy: Strategy = "auto",
        target_batch_seconds: float | None = DEFAULT_TARGET_BATCH_SECONDS,
        throttle: Throttle | None = None,
        checkpoint: Checkpoint | None = None,
    ) -> None:
        if batch_size < 1:
            raise MigrationKitError(f"batch_size must be at least 1, got {batch_size}.")
        if pause_seconds < 0:
            raise MigrationKitError(
                f"pause_seconds must not be negative: {pause_seconds}"
            )
        if strategy not in STRATEGIES:
            raise MigrationKitError(
                f"strategy must be one of {', '.join(STRATEGIES)}, got {strategy!r}."
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
            strategy=strategy,
            target_batch_seconds=target_batch_seconds,
            throttle=throttle or Throttle(),
            checkpoint=checkpoint or PendingRowsAreTheRecord(),
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
        strategy: Strategy = "auto",
    ) -> int:
        """UPDATE in committed batches (row locks for one batch only); see
        ``migrationkit.ops.backfill_in_batches``."""
        report: BackfillReport = operations.invoke(
            cls(
                table=table,
                set_sql=set_sql,
                pending_sql=pending_sql,
                key=key,
                batch_size=batch_size,
                pause_seconds=pause_seconds,
                label=label,
                schema=schema,
                strategy=strategy,
            )
        )
        return report.updated


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
    strategy: Strategy = "auto",
    target_batch_seconds: float | None = DEFAULT_TARGET_BATCH_SECONDS,
    throttle: Throttle | None = None,
    checkpoint: Checkpoint | None = None,
) -> int:
    """Apply ``SET <set_sql>`` to every row matching ``pending_sql``, a batch at a time.

    Each batch is one statement, committed on its own: with ``strategy="ctid"``
    (``auto`` picks it on PostgreSQL 14+ for plain tables) ::

        UPDATE <table> SET <set_sql>
         WHERE ctid >= '(p,0)' AND ctid < '(q,0)' AND (<pending_sql>)

    over the pages the table had when the backfill started; with ``keyset`` ::

        UPDATE <table> SET <set_sql>
         WHERE <key> = ANY(ARRAY(SELECT <key> FROM <table>
                                 WHERE <key> > :last AND (<pending_sql>)
                                 ORDER BY <key> LIMIT :batch_size))

    Locks: ROW EXCLUSIVE on the table (the lock every INSERT/UPDATE takes, so
    reads and writes go on) and row locks on one batch's rows, held for one
    batch only. Avoided: the whole-table row locking, the long transaction
    (bloat, replication lag) and the all-or-nothing crash risk of one big
    ``UPDATE``.

    Resumable: ``pending_sql`` must become false once a row is done (for example
    ``username IS NULL`` with ``set_sql`` ``username = ...``), so a rerun after an
    interruption only changes what is left. The keyset walk never revisits a
    row whose ``set_sql`` leaves it pending; a ctid pass can (the row's new
    version may land on a page not yet passed), so such pairs want ``keyset``.
    A ctid pass is followed by a sweep: rows the application moved to another
    page (by updating them) or inserted while the pass ran, and that still
    match ``pending_sql``, are found by one more scan and done by key, so the
    backfill ends with nothing pending whatever the application did meanwhile.
    New rows written after the backfill must get the value from the
    application or a trigger.

    ``batch_size`` is the first batch's rows; with ``target_batch_seconds``
    (None: fixed size) each next batch is sized to last about that long.
    ``throttle`` says when to back off (:class:`Throttle`); ``pause_seconds``
    sleeps between all batches. ``checkpoint`` stores a ctid pass's position
    (default: nowhere). Inside a revision (no ``connection``) the batches run
    in Alembic's ``autocommit_block``: whatever the revision did before is
    committed first. With ``connection``, each batch is committed on it.
    Progress (rows/s, ETA) goes to stderr. Returns the number of rows updated;
    :func:`run_backfill` returns the whole :class:`BackfillReport`.
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
        strategy=strategy,
        target_batch_seconds=target_batch_seconds,
        throttle=throttle,
        checkpoint=checkpoint,
    )
    if connection is not None:
        return operation.job.run(connection, commit_each_batch=True).updated
    report: BackfillReport = op.invoke(operation)
    return report.updated


def run_backfill(connection: sa.Connection, **options: Any) -> BackfillReport:
    """``backfill_in_batches(connection=..., ...)``, returning the full report."""
    return BackfillOp(**options).job.run(connection, commit_each_batch=True)


@Operations.implementation_for(BackfillOp)
def _backfill_in_batches(
    operations: Operations, operation: BackfillOp
) -> BackfillReport:
    migration = operations.get_context()
    if migration.as_sql:
        operation.job.emit_offline(operations)
        return BackfillReport(strategy="keyset")
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
    strategy: Strategy
    target_batch_seconds: float | None
    throttle: Throttle
    checkpoint: Checkpoint

    @property
    def qualified(self) -> str:
        return qualified_name(self.table, schema=self.schema)

    def keyset_statements(self) -> tuple[sa.TextClause, sa.TextClause]:
        """The first batch's statement and the one for every batch after it."""
        table = self.qualified
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

    def ctid_statement(self) -> sa.TextClause:
        return sa.text(
            f"UPDATE {self.qualified} SET {self.set_sql}"
            " WHERE ctid >= format('(%s,0)', CAST(:first AS bigint))::tid"
            " AND ctid < format('(%s,0)', CAST(:stop AS bigint))::tid"
            f" AND ({self.pending_sql})"
        )

    def run(
        self, connection: sa.Connection, *, commit_each_batch: bool
    ) -> BackfillReport:
        layout = self.layout(connection)
        strategy = self.choose(layout)
        total, exact = self.estimate_pending(connection, layout)
        progress = Progress(
            label=f"migrationkit: backfill {self.label}",
            total=total,
            exact=exact,
            log_every=1.0,
        )
        if commit_each_batch:
            connection.commit()
        report = BackfillReport(strategy=strategy)
        pacer = Pacer(
            throttle=self.throttle,
            target_batch_seconds=self.target_batch_seconds,
            pause_seconds=self.pause_seconds,
            server_version=layout.version,
            commit=commit_each_batch,
            report=report,
            progress=progress,
        )
        try:
            if strategy == "ctid":
                self._ctid_pass(connection, layout, pacer)
                swept_from = time.monotonic()
                in_pass = (report.batch_seconds, report.check_seconds)
                self._sweep(connection, layout, pacer)
                report.sweep_seconds = time.monotonic() - swept_from
                report.batch_seconds, report.check_seconds = in_pass
            else:
                self._keyset_pass(connection, pacer)
        except BaseException:
            progress.finish(
                f"migrationkit: backfill {self.label} interrupted after "
                f"{report.updated:,} rows (every finished batch is committed; run it "
                "again to resume)"
            )
            raise
        report.seconds = time.monotonic() - progress.started
        throttled = f", {report.throttle_summary()}" if report.throttled else ""
        swept = (
            f", {report.swept:,} moved or new during the pass swept after it"
            if report.swept
            else ""
        )
        progress.finish(
            f"{progress.label}: {report.updated:,} rows updated in "
            f"{progress.elapsed()} ({strategy}, {report.batches} batches"
            f"{throttled}{swept})"
        )
        return report

    def _sweep(
        self,
        connection: sa.Connection,
        layout: _Layout,
        pacer: Pacer,
    ) -> None:
        """Do the rows a ctid pass could not see, until none is pending.

        An UPDATE by the application during the pass writes the row's new
        version wherever there is room: on a page the pass has already done, or
        past its last page; and rows inserted meanwhile are past it too. Those
        still matching ``pending_sql`` are picked by a plain scan (no ORDER BY,
        so it stops at ``LIMIT`` rows, and finds nothing in one sequential read
        when the pass left nothing behind) and updated by key, a batch at a time.
        """
        table, key = self.qualified, quote_identifier(self.key)
        statement = sa.text(
            f"WITH picked AS (SELECT {key} FROM {table}"
            f" WHERE ({self.pending_sql}) LIMIT :batch_size),"
            f" updated AS (UPDATE {table} SET {self.set_sql}"
            f" WHERE {key} = ANY(ARRAY(SELECT {key} FROM picked))"
            f" AND ({self.pending_sql}) RETURNING 1)"
            " SELECT (SELECT count(*) FROM updated) AS updated,"
            " (SELECT count(*) FROM picked) AS picked"
        )
        # A set_sql that leaves rows pending would be found again and again: the
        # sweep stops after twice the table's rows (no count: that would be one
        # more full scan, and a sweep that finds nothing costs one already).
        known = max(layout.reltuples, layout.pages * layout.rows_per_page)
        left = 2 * int(max(known, pacer.report.updated)) + self.batch_size
        size = self.batch_size
        while left > 0:
            started = time.monotonic()
            row = connection.execute(statement, {"batch_size": size}).one()
            note_progress(connection, label=self.label, rows=row.updated)
            if pacer.commit:
                connection.commit()
            pacer.report.updated += row.updated
            pacer.report.swept += row.updated
            pacer.progress.update(pacer.report.updated)
            left -= row.picked
            if row.picked < size or row.updated == 0:
                pacer.record(time.monotonic() - started)
                return
            size = pacer.after_batch(connection, size, time.monotonic() - started)
            size = max(1, min(size, left))

    def _keyset_pass(
        self,
        connection: sa.Connection,
        pacer: Pacer,
    ) -> None:
        first, after = self.keyset_statements()
        last: Any = None
        size = self.batch_size
        while True:
            params: dict[str, Any] = {"batch_size": size}
            if last is not None:
                params["last"] = last
            started = time.monotonic()
            row = connection.execute(first if last is None else after, params).one()
            # the ledger's count commits with the batch (resumes say where)
            note_progress(connection, label=self.label, rows=row.updated)
            if pacer.commit:
                connection.commit()
            if row.picked == 0:
                return
            pacer.report.updated += row.updated
            pacer.progress.update(pacer.report.updated)
            last = row.last_key
            if row.picked < size:
                pacer.record(time.monotonic() - started)
                return
            size = pacer.after_batch(connection, size, time.monotonic() - started)

    def _ctid_pass(
        self,
        connection: sa.Connection,
        layout: _Layout,
        pacer: Pacer,
    ) -> None:
        statement = self.ctid_statement()
        stored = self.checkpoint.load(self.label)
        page, end = stored if stored is not None else (0, layout.pages)
        pages = max(1, round(self.batch_size / layout.rows_per_page))
        while page < end:
            stop = min(page + pages, end)
            started = time.monotonic()
            updated = connection.execute(
                statement, {"first": page, "stop": stop}
            ).rowcount
            note_progress(connection, label=self.label, rows=updated)
            if pacer.commit:
                connection.commit()
            page = stop
            self.checkpoint.save(self.label, next_page=page, end_page=end)
            pacer.report.updated += updated
            pacer.progress.update(pacer.report.updated)
            pages = pacer.after_batch(connection, pages, time.monotonic() - started)
        self.checkpoint.clear(self.label)

    def layout(self, connection: sa.Connection) -> _Layout:
        """The table's size now (the ctid pass's last page) and kind."""
        row = connection.execute(
            sa.text(
                "SELECT c.reltuples, c.relkind,"
                " pg_relation_size(c.oid) / current_setting('block_size')::bigint"
                " AS pages, current_setting('server_version_num')::int AS version"
                " FROM pg_class c WHERE c.oid = to_regclass(:table)"
            ),
            {"table": self.qualified},
        ).one_or_none()
        if row is None:
            where = (
                f"in schema {self.schema!r}" if self.schema else "in the search_path"
            )
            raise MigrationKitError(
                f"Cannot backfill {self.table!r}: no such table {where}."
            )
        tuples = max(float(row.reltuples), 0.0)
        pages = int(row.pages)
        return _Layout(
            reltuples=tuples,
            pages=pages,
            rows_per_page=max(tuples / pages, 1.0) if pages and tuples else 100.0,
            plain_table=row.relkind in ("r", "m", "t"),
            version=int(row.version),
        )

    def choose(self, layout: _Layout) -> Literal["ctid", "keyset"]:
        """``auto``: ctid ranges where a TID range scan serves them, keyset else."""
        ctid_serves = layout.plain_table and layout.version >= TID_RANGE_SCAN_SINCE
        if self.strategy == "keyset" or (self.strategy == "auto" and not ctid_serves):
            return "keyset"
        if not ctid_serves:
            raise MigrationKitError(
                f"Cannot backfill {self.table!r} by ctid ranges: they need a plain "
                "table on PostgreSQL 14 or later (this is "
                f"{layout.version // 10_000}, relkind check failed: partitioned?). "
                "Use strategy='keyset' (or -x backfill_strategy=keyset)."
            )
        return "ctid"

    def estimate_pending(
        self, connection: sa.Connection, layout: _Layout
    ) -> tuple[int, bool]:
        """(rows, exact): an exact count on small tables, the planner's guess else."""
        if layout.reltuples >= EXACT_COUNT_BELOW:
            return int(layout.reltuples), False
        count = connection.execute(
            sa.text(f"SELECT count(*) FROM {self.qualified} WHERE ({self.pending_sql})")
        ).scalar_one()
        return int(count), True

    def emit_offline(self, operations: Operations) -> None:
        """``--sql`` mode cannot loop: show the work as one reviewed statement."""
        operations.get_context().impl.static_output(
            f"-- migrationkit: backfill {self.label} runs in batches of "
            f"{self.batch_size} when migrating online; shown here as one UPDATE."
        )
        operations.execute(
            f"UPDATE {self.qualified} SET {self.set_sql} WHERE ({self.pending_sql})"
        )


@dataclass(frozen=True, kw_only=True)
class _Layout:
    reltuples: float
    pages: int
    rows_per_page: float
    plain_table: bool
    version: int
