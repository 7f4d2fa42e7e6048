"""From samples to the figures: requests per second and latency percentiles."""

from __future__ import annotations

import json
import os
import platform
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from benchmarks.http_load.load import Kind, Sample
from benchmarks.zero_downtime.metrics import percentile


@dataclass(frozen=True, kw_only=True)
class KindStats:
    kind: str
    requests: int
    errors: int
    per_second: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    max_ms: float

    @classmethod
    def of(cls, kind: str, samples: Sequence[Sample], *, seconds: float) -> KindStats:
        latencies = [s.seconds * 1000 for s in samples]
        return cls(
            kind=kind,
            requests=len(samples),
            errors=sum(1 for s in samples if not s.ok),
            per_second=len(samples) / seconds if seconds > 0 else 0.0,
            p50_ms=percentile(latencies, 50),
            p95_ms=percentile(latencies, 95),
            p99_ms=percentile(latencies, 99),
            max_ms=max(latencies, default=0.0),
        )


@dataclass(frozen=True, kw_only=True)
class LoadReport:
    path: str
    """How the service reached PostgreSQL: direct, or through PgBouncer."""
    clients: int
    seconds: float
    server_version: str
    cpus: int
    python: str
    kinds: list[KindStats]
    total: KindStats
    statuses: dict[str, int]

    @classmethod
    def build(
        cls,
        samples: Sequence[Sample],
        *,
        path: str,
        clients: int,
        seconds: float,
        server_version: str,
    ) -> LoadReport:
        statuses: dict[str, int] = {}
        for sample in samples:
            statuses[str(sample.status)] = statuses.get(str(sample.status), 0) + 1
        return cls(
            path=path,
            clients=clients,
            seconds=seconds,
            server_version=server_version,
            cpus=os.cpu_count() or 0,
            python=platform.python_version(),
            kinds=[
                KindStats.of(
                    kind.value, [s for s in samples if s.kind is kind], seconds=seconds
                )
                for kind in Kind
            ],
            total=KindStats.of("all", samples, seconds=seconds),
            statuses=dict(sorted(statuses.items())),
        )

    def render(self) -> str:
        title = (
            f"http_load: {self.clients} clients for {self.seconds:.1f}s, service on "
            f"127.0.0.1 {self.path}, PostgreSQL {self.server_version}, "
            f"{self.cpus} CPUs shared by clients, service and server"
        )
        header = (
            f"{'kind':<12} {'requests':>9} {'req/s':>8} {'p50 ms':>8} {'p95 ms':>8} "
            f"{'p99 ms':>8} {'max ms':>8} {'errors':>7}"
        )
        lines = [title, "", header]
        for row in [*self.kinds, self.total]:
            lines.append(
                f"{row.kind:<12} {row.requests:>9} {row.per_second:>8.1f} "
                f"{row.p50_ms:>8.1f} {row.p95_ms:>8.1f} {row.p99_ms:>8.1f} "
                f"{row.max_ms:>8.1f} {row.errors:>7}"
            )
        statuses = ", ".join(f"{k}: {v}" for k, v in self.statuses.items())
        lines += ["", f"HTTP statuses: {statuses} (0: no answer)"]
        return "\n".join(lines)

    def write_json(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(asdict(self), indent=2) + "\n")
