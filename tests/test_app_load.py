"""The load benchmark runs end to end and prints its figures (no timing asserted:
performance figures come from running it, not from tests on a shared machine).

The first test runs ``python -m benchmarks.http_load`` as a process; the others
call its ``main`` in this process (tests/in_process.py), which still starts
``alembic`` and ``main.py`` as processes, as a deploy does."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from benchmarks.http_load.cli import main
from migrationkit.testing.pgbouncer import pgbouncer_binary
from tests.helpers import REPO
from tests.in_process import run_main

pytestmark = pytest.mark.slow  # servers, clusters or benchmarks of its own


def with_prefix(*args: str) -> list[str]:
    """``args`` on a scratch database of this test's own."""
    return ["--db-prefix", f"http_load_{uuid.uuid4().hex[:10]}", *args]


def run_load_process(*args: str) -> subprocess.CompletedProcess[str]:
    """``python -m benchmarks.http_load <args>`` as a process."""
    return subprocess.run(
        [sys.executable, "-m", "benchmarks.http_load", *with_prefix(*args)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def run_load(*args: str) -> subprocess.CompletedProcess[str]:
    """The same, its ``main`` run in this process."""
    return run_main(
        main,
        with_prefix(*args),
        cwd=REPO,
        env=dict(os.environ),
        program=("python", "-m", "benchmarks.http_load"),
    )


SMALL = ("--duration", "1", "--warmup", "0", "--clients", "2", "--users", "20")


def test_the_benchmark_prints_throughput_and_tail_latency(tmp_path: Path) -> None:
    figures = tmp_path / "figures.json"
    result = run_load_process(*SMALL, "--json", str(figures))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "directly on PostgreSQL" in result.stdout
    for column in ("req/s", "p50 ms", "p99 ms", "max ms", "errors"):
        assert column in result.stdout
    report = json.loads(figures.read_text())
    assert report["total"]["requests"] > 0
    assert report["total"]["errors"] == 0
    assert report["total"]["p99_ms"] >= report["total"]["p50_ms"] > 0
    assert {kind["kind"] for kind in report["kinds"]} == {
        "read by id",
        "list page",
        "create",
        "update",
    }


def test_the_benchmark_through_pgbouncer_has_no_errors(tmp_path: Path) -> None:
    if pgbouncer_binary() is None:
        pytest.skip("pgbouncer is not installed (apt-get install pgbouncer)")
    figures = tmp_path / "figures.json"
    result = run_load(*SMALL, "--through-pgbouncer", "--json", str(figures))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "through PgBouncer (transaction mode" in result.stdout
    report = json.loads(figures.read_text())
    assert report["total"]["requests"] > 0
    assert report["total"]["errors"] == 0


def test_unbounded_or_unreachable_runs_are_refused() -> None:
    too_many = run_load("--clients", "1000")
    assert too_many.returncode == 2
    assert "--clients: must be 1..64" in too_many.stderr
    unreachable = run_load(
        "--database-url", "postgresql://bench:s3cret-pw@127.0.0.1:1/nowhere"
    )
    assert unreachable.returncode == 1
    assert unreachable.stderr.startswith("FAILED: ")
    assert "s3cret-pw" not in unreachable.stderr
