"""``python -m benchmarks.backfill_speed``: the backfill against one UPDATE, alone.

The deploy benchmark (``benchmarks.deploy``) ends with the same comparison after
minutes of HTTP load; this runs only that part (``benchmarks/deploy/speed.py``), in
a scratch database ``<prefix>_speed`` of the configured server (never the
configured database itself), dropped afterwards. Expected failures print
``FAILED: ...`` and exit 1 (``--debug``: traceback).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
from collections.abc import Sequence
from pathlib import Path
from statistics import median

from benchmarks.deploy.cli import INI
from benchmarks.deploy.speed import DEFAULT_APP_RATE, SpeedResult, measure_speed
from benchmarks.zero_downtime.scratch import (
    ScratchServer,
    benchmark_settings,
    check_prefix,
)
from migrationkit.command import load_config
from migrationkit.database import mask_secrets, resolve_database
from migrationkit.errors import MigrationKitError


def _count(text: str) -> int:
    value = int(text.replace("_", ""))
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {text}")
    return value


def _rate(text: str) -> float:
    value = float(text)
    if not 0 <= value <= 1000:
        raise argparse.ArgumentTypeError(f"must be 0..1000 writes/s, got {text}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.backfill_speed",
        description=(
            "One whole-table UPDATE against the ctid-range backfill (its sweep "
            "included) and the keyset backfill, on three copies of the same "
            "generated login events, while an application writes single rows of "
            "the table being changed; prints the times, the ratios, the longest "
            "lock wait of an application write and the load average. Scratch "
            "database <prefix>_speed is dropped after."
        ),
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    add = parser.add_argument
    add("--rows", type=_count, default=1_000_000, help="rows in each copy")
    add("--app-rate", type=_rate, default=DEFAULT_APP_RATE,
        help="application writes per second during each run (0: none)")  # fmt: skip
    add("--repeat", type=_count, default=1,
        help="runs one after the other (a busy machine moves each)")  # fmt: skip
    add("--db-prefix", default="backfill_bench", help="scratch database's prefix")
    add("--database-url", default=None,
        help="server (default: DATABASE_URL, else the embedded server)")  # fmt: skip
    add("--json", type=Path, default=None, help="also write the figures here")
    add("--debug", action="store_true", help="show tracebacks for expected errors")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        prefix = check_prefix(args.db_prefix)
        settings = benchmark_settings(database_url=args.database_url)
        home = resolve_database(settings=settings, config=load_config(INI))
        scratch = ScratchServer(home, settings)
        version = scratch.open_check()
        name = f"{prefix}_speed"
        runs: list[SpeedResult] = []
        for _ in range(args.repeat):
            target = scratch.recreate(name)
            try:
                with scratch.connect(name, application_name="backfill-speed") as conn:
                    runs.append(
                        measure_speed(
                            conn, target, rows=args.rows, app_rate=args.app_rate
                        )
                    )
            finally:
                scratch.drop(name)
            print(runs[-1].render(), flush=True)
    except MigrationKitError as exc:
        if args.debug:
            raise
        print(f"FAILED: {mask_secrets(str(exc))}", file=sys.stderr)
        return 1
    machine = (
        f"{platform.machine()}, {os.cpu_count()} CPUs, {platform.system()} "
        f"{platform.release()}, PostgreSQL {version}"
    )
    if len(runs) > 1:
        print(summary(runs))
    print(f"\nMachine: {machine}")
    if args.json is not None:
        document = {"machine": machine, "runs": [run.as_json() for run in runs]}
        args.json.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
        print(f"Wrote {args.json}")
    return 0


def summary(runs: list[SpeedResult]) -> str:
    """The median of each ratio over the runs (each run's own UPDATE the unit)."""
    ctid = median(run.ctid.seconds / run.update_seconds for run in runs)
    keyset = median(run.keyset.seconds / run.update_seconds for run in runs)
    sweep = median(run.ctid.sweep_seconds / run.update_seconds for run in runs)
    return (
        f"Median of {len(runs)} runs: ctid ranges {ctid:.2f}x (the sweep alone "
        f"{sweep:.2f}x), keyset {keyset:.2f}x one whole-table UPDATE"
    )
