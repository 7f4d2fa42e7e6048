"""The backfill's speed against one whole-table UPDATE, in the same run.

Three identical tables of ``rows`` login events (text addresses, an empty INET
column, as revision 008 leaves ``login_events``) are made from one generated
source; then one ``UPDATE ... SET ip_address_inet = ip_address::inet`` runs on
the first, the ctid-range backfill on the second and the keyset backfill on the
third, each after a CHECKPOINT so none pays for another's dirty pages. The
figure the issue asks for is the ratio of each backfill to the UPDATE.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import psycopg
import sqlalchemy as sa

from migrationkit.database import DatabaseTarget, attach_password
from migrationkit.ops.backfill import BackfillReport, run_backfill

SET_SQL = "ip_address_inet = ip_address::inet"
PENDING_SQL = "ip_address_inet IS NULL AND ip_address IS NOT NULL"
TABLES = ("speed_update", "speed_ctid", "speed_keyset")


@dataclass(frozen=True, kw_only=True)
class SpeedResult:
    rows: int
    update_seconds: float
    ctid: BackfillReport
    keyset: BackfillReport

    def as_json(self) -> dict[str, Any]:
        def backfill(report: BackfillReport) -> dict[str, Any]:
            return {
                "seconds": round(report.seconds, 3),
                "ratio_to_update": round(report.seconds / self.update_seconds, 3),
                "rows": report.updated,
                "batches": report.batches,
                "longest_batch_ms": round(report.longest_batch_seconds * 1000, 1),
                "throttled": report.throttled,
                "throttled_seconds": round(report.throttled_seconds, 3),
            }

        return {
            "rows": self.rows,
            "update_seconds": round(self.update_seconds, 3),
            "ctid": backfill(self.ctid),
            "keyset": backfill(self.keyset),
        }

    def render(self) -> str:
        lines = [
            f"Backfill speed at {self.rows:,} rows (same data, same run):",
            f"  one whole-table UPDATE   {self.update_seconds:8.2f} s   1.00x",
        ]
        for name, report in (("ctid ranges", self.ctid), ("keyset", self.keyset)):
            lines.append(
                f"  backfill, {name:<14} {report.seconds:8.2f} s   "
                f"{report.seconds / self.update_seconds:.2f}x  "
                f"({report.batches} batches, longest "
                f"{report.longest_batch_seconds * 1000:.0f} ms, throttled "
                f"{report.throttled}x)"
            )
        return "\n".join(lines)


def measure_speed(
    conn: psycopg.Connection[tuple[Any, ...]], target: DatabaseTarget, *, rows: int
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
    conn.execute("CHECKPOINT")
    began = time.monotonic()
    conn.execute(f"UPDATE speed_update SET {SET_SQL} WHERE {PENDING_SQL} AND {bad}")
    update_seconds = time.monotonic() - began
    engine = sa.create_engine(target.url)
    attach_password(engine, target)
    reports: dict[str, BackfillReport] = {}
    try:
        for strategy in ("ctid", "keyset"):
            conn.execute("CHECKPOINT")
            with engine.connect() as backfill_conn:
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
    for table in TABLES:
        conn.execute(f"DROP TABLE {table}")
    return SpeedResult(
        rows=rows,
        update_seconds=update_seconds,
        ctid=reports["ctid"],
        keyset=reports["keyset"],
    )
