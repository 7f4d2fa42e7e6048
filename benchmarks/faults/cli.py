"""``python -m benchmarks.faults``: run each fault scenario N times, print the figures.

Scratch databases (``<prefix>_<n>``) are created on the server the project's
rule names (``DATABASE_URL``, else alembic.ini, else the embedded server) and
dropped after each repetition; the configured database itself is never used.
Exit status 1 when any repetition failed, or when the benchmark cannot run.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import time
from collections.abc import Sequence

from benchmarks.faults.scenarios import SCENARIOS, Bench, Outcome, run_once
from benchmarks.zero_downtime.scratch import (
    ScratchServer,
    benchmark_settings,
    check_prefix,
)
from migrationkit.database import resolve_server
from migrationkit.exits import report_failures


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.faults",
        description=(
            "Run alembic upgrade head on scratch databases under faults (kill -9 at "
            "a random moment, connections cut by a loopback proxy, a lock holder, "
            "8 concurrent deploys), with an application writing throughout; rerun "
            "each to completion and check the schema equals an uninterrupted "
            "run's and no committed row was lost."
        ),
    )
    parser.add_argument(
        "--repetitions", type=int, default=2, help="runs of each scenario (default 2)"
    )
    parser.add_argument("--seed", type=int, default=None, help="random seed")
    parser.add_argument(
        "--db-prefix", default="mk_faults", help="scratch database name prefix"
    )
    parser.add_argument(
        "--database-url", default=None, help="server to use (default: the project's)"
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    return parser


def run(args: argparse.Namespace) -> int:
    settings = benchmark_settings(database_url=args.database_url)
    prefix = check_prefix(args.db_prefix)
    scratch = ScratchServer(
        home=resolve_server(settings=settings, config=None), settings=settings
    )
    version = scratch.open_check()
    seed = (
        args.seed if args.seed is not None else random.SystemRandom().randrange(2**31)
    )
    rng = random.Random(seed)  # noqa: S311 - timing of faults, not secrets
    bench = Bench(scratch, prefix=prefix)
    bench.prepare_reference()
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    print(
        f"fault figures: seed {seed}, PostgreSQL {version}, {platform.machine()} "
        f"{os.cpu_count()} cores, load {load}; "
        f"uninterrupted upgrade head {bench.reference_seconds:.1f} s"
    )
    started = time.monotonic()
    total_failures = 0
    total_rows = 0
    print(f"{'scenario':<30} {'repetitions':>11} {'failures':>8} {'rows checked':>12}")
    for index, (title, scenario) in enumerate(SCENARIOS.items()):
        failures = 0
        rows = 0
        for repetition in range(args.repetitions):
            outcome: Outcome = run_once(
                bench, scenario, name=f"{prefix}_{index}_{repetition}", rng=rng
            )
            rows += outcome.rows_checked
            if outcome.failures:
                failures += 1
                print(f"  FAILED {title} #{repetition + 1}: {outcome.failures[0]}")
        total_failures += failures
        total_rows += rows
        print(f"{title:<30} {args.repetitions:>11} {failures:>8} {rows:>12,}")
    print(
        f"{'total':<30} {args.repetitions * len(SCENARIOS):>11} "
        f"{total_failures:>8} {total_rows:>12,}  ({time.monotonic() - started:.0f} s)"
    )
    return 1 if total_failures else 0


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return report_failures(lambda: run(args), debug=args.debug)
