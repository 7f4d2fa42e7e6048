"""Figures per phase of a deploy, the text table, the JSON and the chart."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import matplotlib as mpl

mpl.use("Agg")  # files only: no display on servers and CI

import matplotlib.pyplot as plt

from benchmarks.deploy.traffic import Answer


@dataclass(frozen=True, kw_only=True)
class Phase:
    name: str
    start: float
    end: float


@dataclass(frozen=True, kw_only=True)
class PhaseFigures:
    name: str
    seconds: float
    requests: int
    failed: int
    p50_ms: float
    p95_ms: float
    p99_ms: float
    max_ms: float
    longest_lock_wait_ms: float

    def as_json(self) -> dict[str, Any]:
        return {key: round(v, 2) if isinstance(v, float) else v
                for key, v in self.__dict__.items()}  # fmt: skip


def percentile(sorted_values: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile; 0 for no values."""
    if not sorted_values:
        return 0.0
    rank = max(1, math.ceil(fraction * len(sorted_values)))
    return sorted_values[rank - 1]


def figures(
    name: str,
    answers: Sequence[Answer],
    lock_waits: Sequence[tuple[float, float]],
    *,
    start: float,
    end: float,
) -> PhaseFigures:
    """Requests *scheduled* in [start, end) and lock waits seen then."""
    inside = [a for a in answers if start <= a.scheduled < end]
    latencies = sorted(a.seconds * 1000 for a in inside if not a.failed)
    waits = [wait for at, wait in lock_waits if start <= at < end]
    return PhaseFigures(
        name=name,
        seconds=end - start,
        requests=len(inside),
        failed=sum(a.failed for a in inside),
        p50_ms=percentile(latencies, 0.50),
        p95_ms=percentile(latencies, 0.95),
        p99_ms=percentile(latencies, 0.99),
        max_ms=latencies[-1] if latencies else 0.0,
        longest_lock_wait_ms=max(waits, default=0.0) * 1000,
    )


@dataclass(frozen=True, kw_only=True)
class DeployResult:
    history: str
    phases: list[PhaseFigures]
    overall: PhaseFigures
    written: dict[str, int]
    found: dict[str, int]
    points: list[tuple[float, float, bool]]
    """(seconds since the start, latency ms, failed) per request, for the chart."""
    marks: list[tuple[str, float, float]]
    failures: dict[str, int]
    """Failed requests by kind and status ("login 500"), to say what broke."""

    def as_json(self) -> dict[str, Any]:
        return {
            "history": self.history,
            "phases": [p.as_json() for p in self.phases],
            "overall": self.overall.as_json(),
            "rows_written_during_deploy": self.written,
            "rows_found_afterwards": self.found,
            "failures_by_kind": self.failures,
        }

    def render(self) -> str:
        head = (
            f"{'phase':<34}{'secs':>6}{'reqs':>7}{'fail':>6}{'p50':>8}{'p95':>8}"
            f"{'p99':>8}{'max':>9}{'lockwait':>10}"
        )
        lines = [f"{self.history} history (latency ms)", head, "-" * len(head)]
        for p in [*self.phases, self.overall]:
            lines.append(
                f"{p.name[:33]:<34}{p.seconds:6.1f}{p.requests:7d}{p.failed:6d}"
                f"{p.p50_ms:8.1f}{p.p95_ms:8.1f}{p.p99_ms:8.1f}{p.max_ms:9.1f}"
                f"{p.longest_lock_wait_ms:10.1f}"
            )
        if self.failures:
            broke = ", ".join(f"{k}: {n}" for k, n in sorted(self.failures.items()))
            lines.append(f"failed requests by kind and status: {broke}")
        for kind, count in self.written.items():
            lines.append(
                f"{kind} written during the deploy: {count}, found afterwards: "
                f"{self.found[kind]}"
            )
        return "\n".join(lines)


def draw_chart(results: Sequence[DeployResult], path: Path) -> None:
    """Latency of every request over time, one panel per history, phases marked."""
    figure, axes = plt.subplots(
        len(results), 1, figsize=(11, 3.6 * len(results)), squeeze=False
    )
    for axis, result in zip(axes[:, 0], results, strict=True):
        ok = [(t, ms) for t, ms, failed in result.points if not failed]
        bad = [t for t, _, failed in result.points if failed]
        axis.scatter([t for t, _ in ok], [max(ms, 0.1) for _, ms in ok], s=2,
                     alpha=0.5, label="request")  # fmt: skip
        if bad:
            top = max((ms for _, ms in ok), default=1000.0)
            axis.scatter(bad, [top] * len(bad), s=8, color="red", marker="x",
                         label="failed")  # fmt: skip
        for number, (name, start, end) in enumerate(result.marks):
            axis.axvspan(start, end, alpha=0.12, color=f"C{number % 8 + 1}")
            axis.text(start, 1.0, name, rotation=90, fontsize=7, va="bottom",
                      transform=axis.get_xaxis_transform())  # fmt: skip
        axis.set_yscale("log")
        axis.set_ylabel("latency (ms)")
        axis.set_title(f"{result.history} history", fontsize=9, loc="right")
        axis.legend(loc="upper left", fontsize=7)
    axes[-1, 0].set_xlabel("seconds since the load started")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
