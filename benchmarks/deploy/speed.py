"""The backfill's speed against one whole-table UPDATE, in the same run.

Three identical tables of ``rows`` login events (text addresses, an empty INET
column, as revision 008 leaves ``login_events``) are made from one generated
source; then one ``UPDATE ... SET ip_address_inet = ip_address::inet`` runs on
the first, the ctid-range backfill (its sweep included) on the second and the
keyset backfill on the third, each after a CHECKPOINT so none pays for another's
dirty pages. The figure the issue asks for is the ratio of each backfill to the
UPDATE.

While each of the three runs, an application writes to the same table: one
session updating a random row (``occurred_at``) up to ``app_rate`` times a
second, as the service's sign-ins would. Its requests are timed, and the longest
lock wait any of them was seen in (``pg_locks.waitstart``, sampled every 10 ms)
is the figure the 50 ms goal is about. Its updates also move rows the ctid pass
has not reached yet to other pages: the sweep after the pass does them, and its
cost is timed apart.
"""

from __future__ import annotations

import os
import random
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import psycopg
import sqlalchemy as sa

from migrationkit.database import DatabaseTarget, attach_password
from migrationkit.errors import MigrationKitError
from migrationkit.ops.backfill import BackfillReport, run_backfill

SET_SQL = "ip_address_inet = ip_address::inet"
PENDING_SQL = "ip_address_inet IS NULL AND ip_address IS NOT NULL"
TABLES = ("speed_update", "speed_ctid", "speed_keyset")
APP_NAME = "backfill-speed-app"
DEFAULT_APP_RATE = 20.0
"""Application writes per second during each run (0: no application)."""
_SAMPLE_EVERY = 0.01


@dataclass(kw_only=True)
class ApplicationSeen:
    """What the application's writes felt while one of the runs went on."""

    requests: int = 0
    longest_request_seconds: float = 0.0
    longest_lock_wait_seconds: float = 0.0
    """From pg_locks every 10 ms: a wait shorter than that may go unseen."""

    def as_json(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "longest_request_ms": round(self.longest_request_seconds * 1000, 1),
            "longest_lock_wait_ms": round(self.longest_lock_wait_seconds * 1000, 1),
        }

    def render(self) -> str:
        if not self.requests:
            return "no application"
        longest = self.longest_request_seconds * 1000
        waited = self.longest_lock_wait_seconds * 1000
        return (
            f"app: {self.requests} writes, longest {longest:.0f} ms, "
            f"longest lock wait {waited:.0f} ms"
        )


@dataclass(frozen=True, kw_only=True)
class SpeedResult:
    rows: int
    update_seconds: float
    ctid: BackfillReport
    keyset: BackfillReport
    app_rate: float = 0.0
    seen: dict[str, ApplicationSeen] = field(default_factory=dict)
    """By run: ``update``, ``ctid``, ``keyset``."""
    load: tuple[str, str] = ("", "")
    """The load average (1, 5, 15 min) as the runs began and as they ended."""

    def as_json(self) -> dict[str, Any]:
        def backfill(report: BackfillReport) -> dict[str, Any]:
            return {
                "seconds": round(report.seconds, 3),
                "ratio_to_update": round(report.seconds / self.update_seconds, 3),
                "rows": report.updated,
                "batches": report.batches,
                "longest_batch_ms": round(report.longest_batch_seconds * 1000, 1),
                "batch_seconds": round(report.batch_seconds, 3),
                "check_seconds": round(report.check_seconds, 3),
                "throttled": report.throttled,
                "throttled_seconds": round(report.throttled_seconds, 3),
                "throttle_reasons": dict(report.reasons),
                "swept": report.swept,
                "sweep_seconds": round(report.sweep_seconds, 3),
            }

        runs: dict[str, dict[str, Any]] = {
            "update": {"seconds": round(self.update_seconds, 3)}
        }
        runs |= {"ctid": backfill(self.ctid), "keyset": backfill(self.keyset)}
        for name, seen in self.seen.items():
            runs[name]["application"] = seen.as_json()
        return {
            "rows": self.rows,
            "update_seconds": round(self.update_seconds, 3),
            "ctid": runs["ctid"],
            "keyset": runs["keyset"],
            "update_application": runs["update"].get("application"),
            "app_writes_per_second": self.app_rate,
            "load_average_before": self.load[0],
            "load_average_after": self.load[1],
        }

    def render(self) -> str:
        seen = self.seen.get
        lines = [
            (
                f"Backfill speed at {self.rows:,} rows (same data, same run; "
                f"load average {self.load[0]} before, {self.load[1]} after):"
            ),
            (
                f"  one whole-table UPDATE   {self.update_seconds:8.2f} s   1.00x  "
                f"{(seen('update') or ApplicationSeen()).render()}"
            ),
        ]
        for name, report in (("ctid ranges", self.ctid), ("keyset", self.keyset)):
            lines.append(
                f"  backfill, {name:<14} {report.seconds:8.2f} s   "
                f"{report.seconds / self.update_seconds:.2f}x  "
                f"({report.batches} batches, longest "
                f"{report.longest_batch_seconds * 1000:.0f} ms, throttled "
                f"{report.throttled}x {report.throttled_seconds:.1f} s)  "
                f"{(seen(report.strategy) or ApplicationSeen()).render()}"
            )
        ctid = self.ctid
        rest = ctid.seconds - ctid.batch_seconds - ctid.check_seconds
        rest -= ctid.sweep_seconds
        lines.append(
            f"  of the ctid backfill: pass batches {ctid.batch_seconds:.2f} s "
            f"({ctid.batch_seconds / self.update_seconds:.2f}x), checks between "
            f"batches {ctid.check_seconds:.2f} s, sweep {ctid.sweep_seconds:.2f} s "
            f"({ctid.swept:,} rows moved or added during the pass), the rest "
            f"{rest:.2f} s (pauses, set-up, Python)"
        )
        return "\n".join(lines)


class Application:
    """One session writing single rows of ``table`` while a run goes on."""

    def __init__(self, engine: sa.Engine, *, rows: int, rate: float) -> None:
        self.engine = engine
        self.rows = rows
        self.rate = rate

    @contextmanager
    def writing(self, table: str) -> Iterator[ApplicationSeen]:
        """Write (and watch the writes' lock waits) until the block ends."""
        seen = ApplicationSeen()
        if self.rate <= 0:
            yield seen
            return
        stop = threading.Event()
        ready = [threading.Event(), threading.Event()]
        threads = [
            threading.Thread(target=work, args=(table, seen, stop, up), daemon=True)
            for work, up in zip((self._write, self._watch), ready, strict=True)
        ]
        for thread in threads:
            thread.start()
        try:
            # the run starts once the application writes and is watched
            for up, thread in zip(ready, threads, strict=True):
                while not up.wait(0.1):
                    if not thread.is_alive():
                        raise MigrationKitError(
                            f"the benchmark's application could not start ({table})"
                        )
            yield seen
        finally:
            stop.set()
            for thread in threads:
                thread.join(timeout=600)

    def _write(
        self,
        table: str,
        seen: ApplicationSeen,
        stop: threading.Event,
        ready: threading.Event,
    ) -> None:
        statement = sa.text(
            f"UPDATE {table} SET occurred_at = clock_timestamp() WHERE id = :id"
        )
        chooser = random.Random(table)  # noqa: S311  # which rows, not a secret
        every = 1.0 / self.rate
        with self.engine.connect() as conn:
            conn.execute(sa.text(f"SET application_name = '{APP_NAME}'"))
            conn.commit()
            due = time.monotonic()
            while not stop.is_set():
                began = time.monotonic()
                conn.execute(statement, {"id": chooser.randint(1, self.rows)})
                conn.commit()
                took = time.monotonic() - began
                seen.requests += 1
                seen.longest_request_seconds = max(seen.longest_request_seconds, took)
                ready.set()
                due += every
                stop.wait(max(0.0, due - time.monotonic()))

    def _watch(
        self,
        table: str,
        seen: ApplicationSeen,
        stop: threading.Event,
        ready: threading.Event,
    ) -> None:
        query = sa.text(
            "SELECT extract(epoch FROM max(clock_timestamp() - l.waitstart))"
            " FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid"
            " WHERE NOT l.granted AND a.application_name = :app"
        )
        with self.engine.connect() as conn:
            conn.execution_options(isolation_level="AUTOCOMMIT")
            ready.set()
            while not stop.wait(_SAMPLE_EVERY):
                wait = conn.execute(query, {"app": APP_NAME}).scalar()
                if wait is not None:
                    seen.longest_lock_wait_seconds = max(
                        seen.longest_lock_wait_seconds, float(wait)
                    )


def _load_average() -> str:
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


def measure_speed(
    conn: psycopg.Connection[tuple[Any, ...]],
    target: DatabaseTarget,
    *,
    rows: int,
    app_rate: float = DEFAULT_APP_RATE,
) -> SpeedResult:
    """Build the three tables, then time the UPDATE and both backfills."""
    conn.execute(
        "CREATE TABLE speed_source AS SELECT n AS id,"
        " CASE WHEN n %% 997 = 0 THEN 'not-an-ip' ELSE '10.' || (n / 65536 %% 256)"
        " || '.' || (n / 256 %% 256) || '.' || (n %% 256) END AS ip_address,"
        " NULL::inet AS ip_address_inet,"
        " now() - n * interval '1 second' AS occurred_at"
        " FROM generate_series(1, %s::bigint) AS n",
        (rows,),
    )
    for table in TABLES:
        conn.execute(f"CREATE TABLE {table} AS SELECT * FROM speed_source")
        conn.execute(f"ALTER TABLE {table} ADD PRIMARY KEY (id)")
        conn.execute(f"VACUUM ANALYZE {table}")
    conn.execute("DROP TABLE speed_source")
    # 'not-an-ip' would abort the UPDATE and the backfills alike: all three skip it.
    bad = "ip_address <> 'not-an-ip'"
    engine = sa.create_engine(target.url, pool_size=4)
    attach_password(engine, target)
    application = Application(engine, rows=rows, rate=app_rate)
    seen: dict[str, ApplicationSeen] = {}
    reports: dict[str, BackfillReport] = {}
    load_before = _load_average()
    try:
        conn.execute("CHECKPOINT")
        with application.writing("speed_update") as seen["update"]:
            began = time.monotonic()
            conn.execute(
                f"UPDATE speed_update SET {SET_SQL} WHERE {PENDING_SQL} AND {bad}"
            )
            update_seconds = time.monotonic() - began
        for strategy in ("ctid", "keyset"):
            conn.execute("CHECKPOINT")
            with (
                application.writing(f"speed_{strategy}") as seen[strategy],
                engine.connect() as backfill_conn,
            ):
                reports[strategy] = run_backfill(
                    backfill_conn,
                    table=f"speed_{strategy}",
                    set_sql=SET_SQL,
                    pending_sql=f"{PENDING_SQL} AND {bad}",
                    strategy=strategy,
                    label=f"speed_{strategy}",
                )
    finally:
        engine.dispose()
    load_after = _load_average()
    for table in TABLES:
        conn.execute(f"DROP TABLE {table}")
    return SpeedResult(
        rows=rows,
        update_seconds=update_seconds,
        ctid=reports["ctid"],
        keyset=reports["keyset"],
        app_rate=app_rate,
        seen=seen,
        load=(load_before, load_after),
    )
