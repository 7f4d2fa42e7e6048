"""Turn two history runs into the verdict: a side-by-side table and results.json.

The ratios are naive / safe: how many times longer the naive revision stalled a
concurrent write, and how many times longer its DDL ran. The backfill ratio is
the other way round (safe / naive DDL time of the backfill revision): what the
batched, resumable backfill costs over one whole-table UPDATE.
"""

from __future__ import annotations

import csv
import gzip
import json
import os
import platform
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from benchmarks.zero_downtime.metrics import ratio
from benchmarks.zero_downtime.runner import BenchOptions, HistoryResult
from benchmarks.zero_downtime.schema import fingerprint_differences

STALL_GOAL_MS = 50.0
BACKFILL_GOAL = 2.0


@dataclass(frozen=True, kw_only=True)
class Machine:
    cpus: int
    ram_gib: float
    platform: str
    python: str
    postgresql: str
    server: str

    @classmethod
    def here(cls, *, postgresql: str, server: str) -> Machine:
        try:
            ram = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
        except (ValueError, OSError, AttributeError):
            ram = 0
        return cls(
            cpus=os.cpu_count() or 0,
            ram_gib=round(ram / 2**30, 1),
            platform=platform.platform(),
            python=platform.python_version(),
            postgresql=postgresql,
            server=server,
        )


@dataclass(frozen=True, kw_only=True)
class Comparison:
    revision: str
    title: str
    stall_ratio: float | None
    ddl_ratio: float | None


def compare(safe: HistoryResult, naive: HistoryResult) -> list[Comparison]:
    return [
        Comparison(
            revision=s.revision,
            title=s.title,
            stall_ratio=ratio(n.during.writes.max_ms, s.during.writes.max_ms),
            ddl_ratio=ratio(n.ddl_seconds, s.ddl_seconds),
        )
        for s, n in zip(safe.revisions, naive.revisions, strict=True)
    ]


def backfill_ratio(
    safe: HistoryResult, naive: HistoryResult, *, revision: str
) -> float | None:
    """safe / naive DDL time of the backfill revision (None if it is not there)."""
    s = next((r for r in safe.revisions if r.revision == revision), None)
    n = next((r for r in naive.revisions if r.revision == revision), None)
    if s is None or n is None:
        return None
    return ratio(s.ddl_seconds, n.ddl_seconds)


def build_results(
    *,
    machine: Machine,
    options: BenchOptions,
    safe: HistoryResult,
    naive: HistoryResult,
) -> dict[str, Any]:
    differences = fingerprint_differences(
        safe.fingerprint, naive.fingerprint, names=("safe", "naive")
    )
    worst = max(safe.revisions, key=lambda r: r.during.writes.max_ms)
    worst_lock = max(safe.revisions, key=lambda r: r.during.lock_stall_ms)
    return {
        "machine": asdict(machine),
        "settings": {
            "rows": options.rows,
            "login_events": options.event_rows,
            "writers": options.shape.writers,
            "readers": options.shape.readers,
            "client_pause_ms": options.shape.pause_s * 1000,
            "client_statement_timeout_ms": options.shape.statement_timeout_ms,
            "lock_sample_interval_ms": options.shape.sample_interval_s * 1000,
            "slow_ms": options.slow_ms,
            "settle_s": options.settle_s,
            "seed": options.shape.seed,
        },
        "histories": {"safe": safe.as_json(), "naive": naive.as_json()},
        "comparison": [asdict(c) for c in compare(safe, naive)],
        "backfill": {
            "revision": options.backfill_revision,
            "ratio": backfill_ratio(safe, naive, revision=options.backfill_revision),
            "goal": BACKFILL_GOAL,
        },
        "goal": {
            "stall_ms": STALL_GOAL_MS,
            "safe_worst_write_stall_ms": worst.during.writes.max_ms,
            "safe_worst_revision": worst.revision,
            "safe_worst_lock_stall_ms": worst_lock.during.lock_stall_ms,
            "safe_worst_lock_stall_revision": worst_lock.revision,
            "baseline_worst_write_ms": safe.baseline.writes.max_ms,
        },
        "schema": {
            "identical": not differences,
            "differences": differences,
            "safe_matches_models": safe.models_check is None,
            "naive_matches_models": naive.models_check is None,
        },
    }


def write_operations_csv(history: HistoryResult, path: Path) -> None:
    """Every client operation of one history (gzip CSV), for your own plots.

    ``started_s`` counts from the start of the history; ``revision`` names the
    revision whose window the operation overlapped, if any.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(path, "wt", encoding="utf-8", newline="") as stream:
        out = csv.writer(stream)
        out.writerow(
            ["revision", "kind", "statement", "pid", "started_s", "latency_ms",
             "lock_waited", "error"]
        )  # fmt: skip
        for op in history.operations:
            during = next(
                (rev for rev, start, end in history.windows
                 if op.started < end and op.finished > start),
                "",
            )  # fmt: skip
            out.writerow(
                [during, op.kind.value, op.statement, op.pid,
                 f"{op.started - history.origin:.6f}", f"{op.latency_ms:.3f}",
                 int(history.locks.waited(op)), op.error or ""]
            )  # fmt: skip


def write_json(results: dict[str, Any], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")


def _ms(value: float) -> str:
    return f"{value:,.1f}" if value < 10_000 else f"{value:,.0f}"


def _stall(rev: dict[str, Any]) -> str:
    """Max write stall; ``*`` when a client gave up (the real stall was longer)."""
    mark = "*" if rev["timeouts"] else ""
    return _ms(rev["writes"]["max_ms"]) + mark


def _x(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:,.0f}x" if value >= 10 else f"{value:.2g}x"


def render_table(results: dict[str, Any]) -> str:
    """The side-by-side table people read (results.json has every figure)."""
    safe = results["histories"]["safe"]["revisions"]
    naive = results["histories"]["naive"]["revisions"]
    comparison = results["comparison"]
    groups = (
        f"{'':<33}|{'DDL time (s)':^25}|{'max write stall (ms)':^28}"
        f"|{'p99 write (ms)':^19}|{'lock-waited ops':^15}|{'lock stall (ms)':^19}"
    )
    head = (
        f"{'rev':<4} {'change':<28}|{'safe':>8}{'naive':>9}{'ratio':>8}|"
        f"{'safe':>9}{'naive':>10}{'ratio':>9}|{'safe':>9}{'naive':>10}|"
        f"{'safe':>7}{'naive':>8}|{'safe':>9}{'naive':>10}"
    )
    lines = [groups, head, "-" * len(head)]
    for s, n, c in zip(safe, naive, comparison, strict=True):
        title = s["title"] if len(s["title"]) <= 28 else s["title"][:27] + "~"
        lines.append(
            f"{s['revision']:<4} {title:<28}|"
            f"{s['ddl_seconds']:>8.3f}{n['ddl_seconds']:>9.3f}"
            f"{_x(c['ddl_ratio']):>8}|"
            f"{_stall(s):>9}{_stall(n):>10}"
            f"{_x(c['stall_ratio']):>9}|"
            f"{_ms(s['writes']['p99_ms']):>9}{_ms(n['writes']['p99_ms']):>10}|"
            f"{s['lock_waited_ops']:>7}{n['lock_waited_ops']:>8}|"
            f"{_ms(s['lock_stall_ms']):>9}{_ms(n['lock_stall_ms']):>10}"
        )
    if any(r["timeouts"] for r in [*safe, *naive]):
        lines.append(
            "* some operations hit the clients' statement_timeout (--client-timeout): "
            "the stall was at least this long"
        )
    return "\n".join(lines)


def render_summary(results: dict[str, Any]) -> str:
    m = results["machine"]
    st = results["settings"]
    goal = results["goal"]
    backfill = results["backfill"]
    schema = results["schema"]
    verdict = (
        "met" if goal["safe_worst_write_stall_ms"] <= goal["stall_ms"] else "MISSED"
    )
    lock_verdict = (
        "met" if goal["safe_worst_lock_stall_ms"] <= goal["stall_ms"] else "MISSED"
    )
    lines = [
        (
            f"Machine: {m['cpus']} CPUs, {m['ram_gib']} GiB RAM, {m['platform']}, "
            f"PostgreSQL {m['postgresql']} ({m['server']})"
        ),
        (
            f"Data: {st['rows']:,} users, {st['login_events']:,} login events; "
            f"{st['writers']} writers + {st['readers']} readers, "
            f"slow = over {st['slow_ms']:g} ms"
        ),
        (
            f"Worst safe write stall: {_ms(goal['safe_worst_write_stall_ms'])} ms "
            f"at {goal['safe_worst_revision']} "
            f"(goal <= {goal['stall_ms']:g} ms: {verdict}); with no migration "
            f"running: {_ms(goal['baseline_worst_write_ms'])} ms"
        ),
        (
            f"Worst safe stall on a lock: {_ms(goal['safe_worst_lock_stall_ms'])} ms "
            f"at {goal['safe_worst_lock_stall_revision']} (goal <= "
            f"{goal['stall_ms']:g} ms: {lock_verdict})"
        ),
    ]
    if backfill["ratio"] is None:
        lines.append(f"backfill ratio: - (revision {backfill['revision']} not found)")
    else:
        lines.append(
            f"backfill ratio: {backfill['ratio']:.2f}x (batched {backfill['revision']} "
            f"/ one whole-table UPDATE; goal <= {backfill['goal']:g}x)"
        )
    same = "identical" if schema["identical"] else "DIFFERENT"
    lines.append(
        f"Schemas at head: {same}; safe matches models: "
        f"{schema['safe_matches_models']}; naive matches models: "
        f"{schema['naive_matches_models']}"
    )
    lines += [f"  {d}" for d in schema["differences"]]
    for name in ("safe", "naive"):
        check = results["histories"][name]["models_check"]
        if check:
            lines.append(f"  alembic check on {name}: {check}")
    return "\n".join(lines)
