"""From raw operations and lock samples to the figures each revision is judged by.

An operation belongs to a revision when its run overlaps the revision's window
(from Alembic announcing the migration to the command's return): a write queued
behind the migration's lock starts inside the window and finishes after it, and
its whole wait is the stall the application felt.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from benchmarks.zero_downtime.workload import LockSamples, Operation, OpKind

QUERY_CANCELED = "57014"
"""SQLSTATE of a statement cancelled by statement_timeout."""


def percentile(values: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile (0.0 for no values): a real observed latency."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(1, math.ceil(pct / 100.0 * len(ordered)))
    return ordered[rank - 1]


@dataclass(frozen=True, kw_only=True)
class LatencyStats:
    """Latencies of one kind of operation within one window, in milliseconds."""

    count: int
    max_ms: float
    p99_ms: float

    @classmethod
    def of(cls, ops: Sequence[Operation]) -> LatencyStats:
        latencies = [op.latency_ms for op in ops]
        return cls(
            count=len(latencies),
            max_ms=max(latencies, default=0.0),
            p99_ms=percentile(latencies, 99),
        )


@dataclass(frozen=True, kw_only=True)
class WindowStats:
    """What the concurrent clients went through while one revision ran."""

    operations: int
    writes: LatencyStats
    reads: LatencyStats
    slow_ops: int
    lock_waited_ops: int
    lock_stall_ms: float
    """The longest operation that was seen waiting on a lock: the stall the
    migration caused, apart from the machine's own hiccups (CPU, disk)."""
    errors: int
    timeouts: int
    """Errors that were the client's own statement_timeout: the stall was longer."""

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


def overlapping(
    ops: Iterable[Operation], *, start: float, end: float
) -> list[Operation]:
    return [op for op in ops if op.started < end and op.finished > start]


def window_stats(
    ops: Sequence[Operation],
    *,
    locks: LockSamples,
    start: float,
    end: float,
    slow_ms: float,
) -> WindowStats:
    inside = overlapping(ops, start=start, end=end)
    return WindowStats(
        operations=len(inside),
        writes=LatencyStats.of([op for op in inside if op.kind is OpKind.WRITE]),
        reads=LatencyStats.of([op for op in inside if op.kind is OpKind.READ]),
        slow_ops=sum(op.latency_ms > slow_ms for op in inside),
        lock_waited_ops=sum(locks.waited(op) for op in inside),
        lock_stall_ms=max(
            (op.latency_ms for op in inside if locks.waited(op)), default=0.0
        ),
        errors=sum(op.error is not None for op in inside),
        timeouts=sum(
            op.error is not None and op.error.startswith(QUERY_CANCELED)
            for op in inside
        ),
    )


def outside_windows(
    ops: Sequence[Operation], windows: Sequence[tuple[float, float]]
) -> list[Operation]:
    """The operations that overlapped no revision: the application's normal day."""
    return [
        op
        for op in ops
        if not any(op.started < end and op.finished > start for start, end in windows)
    ]


def ratio(numerator: float, denominator: float) -> float | None:
    """naive / safe, or None when the safe figure is zero (nothing to divide by)."""
    if denominator <= 0:
        return None
    return numerator / denominator
