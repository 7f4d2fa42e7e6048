"""The chart for the README: the longest write stall per revision, safe vs naive.

Log scale, because the point is the orders of magnitude between them; the 50 ms
goal is drawn as a line. A revision with no write in its window (001 runs before
the workload starts; others can finish within a few milliseconds) gets no bar,
and says so.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import matplotlib as mpl

mpl.use("Agg")  # files only: no display on servers and CI

import matplotlib.pyplot as plt

_FLOOR_MS = 0.1


def _bar(revision: dict[str, Any]) -> float:
    """The bar height: NaN (no bar) when no write overlapped the revision."""
    if not revision["writes"]["count"]:
        return math.nan
    return max(float(revision["writes"]["max_ms"]), _FLOOR_MS)


def draw_chart(results: dict[str, Any], path: Path) -> None:
    safe = results["histories"]["safe"]["revisions"]
    naive = results["histories"]["naive"]["revisions"]
    labels = [r["revision"] for r in safe]
    safe_ms = [_bar(r) for r in safe]
    naive_ms = [_bar(r) for r in naive]
    positions = list(range(len(labels)))
    width = 0.4

    fig, ax = plt.subplots(figsize=(10, 5), dpi=100)
    ax.bar([p - width / 2 for p in positions], safe_ms, width, label="safe history")
    ax.bar([p + width / 2 for p in positions], naive_ms, width, label="naive history")
    goal = results["goal"]["stall_ms"]
    ax.axhline(goal, color="black", linestyle="--", linewidth=1)
    ax.annotate(f"goal {goal:g} ms", (len(labels) - 0.5, goal), ha="right", va="bottom")
    for position, (s, n) in enumerate(zip(safe_ms, naive_ms, strict=True)):
        if math.isnan(s) and math.isnan(n):
            ax.annotate("no writes", (position, _FLOOR_MS * 1.5), ha="center")
    ax.set_yscale("log")
    ax.set_ylim(bottom=_FLOOR_MS)
    ax.set_xlim(-0.7, len(labels) - 0.3)
    ax.set_xticks(positions, labels)
    ax.set_xlabel("revision")
    ax.set_ylabel("longest concurrent write (ms, log scale)")
    settings = results["settings"]
    machine = results["machine"]
    ax.set_title(
        f"Write stalls per revision: {settings['rows']:,} users, "
        f"PostgreSQL {machine['postgresql']}, {machine['cpus']} CPUs"
    )
    ax.legend()
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
