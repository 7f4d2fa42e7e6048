"""``python -m benchmarks.zero_downtime``: parse flags, run both histories, print, save.

Expected failures (``MigrationKitError``: server unreachable, no CREATEDB, a
revision that fails) become ``FAILED: ...`` and exit code 1; ``--debug`` shows the
traceback instead.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import psycopg
from alembic.config import Config

from benchmarks.zero_downtime.chart import draw_chart
from benchmarks.zero_downtime.history import (
    HistorySpec,
    list_revisions,
    pair_revisions,
)
from benchmarks.zero_downtime.report import (
    Machine,
    build_results,
    render_summary,
    render_table,
    write_json,
    write_operations_csv,
)
from benchmarks.zero_downtime.runner import BenchOptions, HistoryRun, say
from benchmarks.zero_downtime.scratch import (
    ScratchServer,
    benchmark_settings,
    check_prefix,
    mask_url_host,
)
from benchmarks.zero_downtime.workload import WorkloadShape
from migrationkit.database import mask_secrets, resolve_database
from migrationkit.errors import MigrationKitError
from migrationkit.settings import Settings

NAIVE_GUARDS_OFF = {
    # The naive history runs as autogenerate's output would without our guards:
    # no lock_timeout, no statement_timeout (0 disables both in PostgreSQL).
    "MIGRATIONKIT_LOCK_TIMEOUT": "0",
    "MIGRATIONKIT_STATEMENT_TIMEOUT": "0",
}
NAIVE_X_ARGS = ["lock_timeout=0", "statement_timeout=0"]


def _positive_int(text: str) -> int:
    value = int(text.replace("_", ""))
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {text}")
    return value


def _non_negative_int(text: str) -> int:
    value = int(text.replace("_", ""))
    if value < 0:
        raise argparse.ArgumentTypeError(f"must not be negative, got {text}")
    return value


def _non_negative_float(text: str) -> float:
    value = float(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must not be negative, got {text}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.zero_downtime",
        description=(
            "Apply this project's revisions one at a time to a loaded users table "
            "while writers and readers keep working, then the naive equivalents "
            "(what autogenerate writes) on the same data, and compare the stalls. "
            "Works in scratch databases <prefix>_safe and <prefix>_naive on the "
            "configured server (DATABASE_URL, else the embedded one); your own "
            "database is never touched."
        ),
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    add = parser.add_argument
    add(
        "--rows",
        type=_positive_int,
        default=200_000,
        help="users to load (10000000 for the production case)",
    )
    add(
        "--events",
        type=_non_negative_int,
        default=None,
        help="login_events to load (default: half the users)",
    )
    add(
        "--writers",
        type=_non_negative_int,
        default=2,
        help="concurrent writer clients (UPDATE users, INSERT login_events)",
    )
    add(
        "--readers",
        type=_non_negative_int,
        default=2,
        help="concurrent reader clients (SELECT users by e-mail)",
    )
    add(
        "--pause-ms",
        type=_non_negative_float,
        default=5.0,
        help="think time between one client's operations",
    )
    add(
        "--client-timeout",
        type=_non_negative_float,
        default=120.0,
        help="statement_timeout (s) of every client: caps, never hides, a stall",
    )
    add(
        "--slow-ms",
        type=_non_negative_float,
        default=50.0,
        help="an operation slower than this counts as slow",
    )
    add(
        "--sample-ms",
        type=_non_negative_float,
        default=10.0,
        help="how often the monitor looks for clients waiting on a lock",
    )
    add(
        "--settle",
        type=_non_negative_float,
        default=0.5,
        help="seconds of plain workload before each revision",
    )
    add(
        "--chunk-rows",
        type=_positive_int,
        default=100_000,
        help="rows per INSERT ... SELECT when loading",
    )
    add("--seed", type=int, default=42, help="seed of the clients' random choices")
    add(
        "--db-prefix",
        default="bench",
        help="scratch databases are <prefix>_safe and <prefix>_naive",
    )
    add(
        "--keep",
        action="store_true",
        help="keep the scratch databases afterwards (for a look with psql)",
    )
    add(
        "--database-url",
        default=None,
        help="server to use (default: DATABASE_URL, else the embedded server)",
    )
    add(
        "-c",
        "--config",
        type=Path,
        default=Path("alembic.ini"),
        help="the project's alembic.ini (its env.py runs both histories)",
    )
    add(
        "--naive-versions",
        type=Path,
        default=None,
        help="folder of the naive revisions (default: benchmarks/naive/versions "
        "beside alembic.ini)",
    )
    add(
        "--backfill-revision",
        default="003",
        help="the data-backfill revision whose safe/naive DDL time is the "
        "backfill ratio",
    )
    add(
        "--out",
        type=Path,
        default=Path("bench-results"),
        help="folder for results.json, chart.png and the Alembic logs",
    )
    add(
        "--safe-x",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="an -x argument for env.py in the safe history, repeatable (e.g. "
        "backfill_batch_size=2000, lock_timeout=1s)",
    )
    add("--debug", action="store_true", help="show tracebacks for expected errors")
    return parser


def options_from(args: argparse.Namespace) -> BenchOptions:
    naive = args.naive_versions or args.config.parent / "benchmarks/naive/versions"
    return BenchOptions(
        rows=args.rows,
        events=args.events,
        shape=WorkloadShape(
            users=args.rows,
            writers=args.writers,
            readers=args.readers,
            pause_s=args.pause_ms / 1000,
            statement_timeout_ms=round(args.client_timeout * 1000),
            sample_interval_s=args.sample_ms / 1000,
            seed=args.seed,
        ),
        slow_ms=args.slow_ms,
        settle_s=args.settle,
        chunk_rows=args.chunk_rows,
        db_prefix=check_prefix(args.db_prefix),
        keep=args.keep,
        ini=args.config,
        naive_versions=naive,
        out=args.out,
        backfill_revision=args.backfill_revision,
        safe_x=tuple(args.safe_x),
    )


def run_benchmark(*, options: BenchOptions, settings: Settings) -> dict[str, Any]:
    """Both histories, one after the other, on identical data.

    Saves results.json, chart.png and the raw operations in ``options.out`` and
    returns the results.
    """
    if not options.ini.is_file():
        raise MigrationKitError(
            f"{options.ini} does not exist: run the benchmark from the project "
            "folder, or pass -c path/to/alembic.ini."
        )
    if not options.naive_versions.is_dir():
        raise MigrationKitError(
            f"The naive revisions folder {options.naive_versions} does not exist; "
            "pass --naive-versions."
        )
    safe_revs = list_revisions(ini=options.ini, versions=None)
    naive_revs = list_revisions(ini=options.ini, versions=options.naive_versions)
    pairing = pair_revisions(safe_revs, naive_revs, naive_dir=options.naive_versions)
    for line in pairing.skipped:
        say(f"skipped {line}")

    home = resolve_database(settings=settings, config=Config(str(options.ini)))
    server = ScratchServer(home, settings)
    version = server.open_check()
    machine = Machine.here(postgresql=version, server=mask_url_host(home.url))
    say(
        f"Server: PostgreSQL {version} at {machine.server}; "
        f"{len(pairing.safe)} revisions compared; {options.rows:,} users"
    )

    safe = HistoryRun(
        spec=HistorySpec(name="safe", versions=None, x_args=list(options.safe_x)),
        revisions=pairing.safe,
        server=server,
        options=options,
    ).run()
    naive = HistoryRun(
        spec=HistorySpec(
            name="naive",
            versions=options.naive_versions,
            env=dict(NAIVE_GUARDS_OFF),
            x_args=list(NAIVE_X_ARGS),
        ),
        revisions=pairing.naive,
        server=server,
        options=options,
    ).run()
    results = build_results(machine=machine, options=options, safe=safe, naive=naive)
    results["skipped"] = pairing.skipped
    write_json(results, options.out / "results.json")
    draw_chart(results, options.out / "chart.png")
    for history in (safe, naive):
        write_operations_csv(history, options.out / f"operations-{history.name}.csv.gz")
    return results


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = benchmark_settings(database_url=args.database_url)
        options = options_from(args)
        results = run_benchmark(options=options, settings=settings)
    except MigrationKitError as exc:
        if args.debug:
            raise
        print(f"FAILED: {exc}", file=sys.stderr)
        return 1
    except psycopg.OperationalError as exc:
        if args.debug:
            raise
        detail = mask_secrets(str(exc).strip().splitlines()[0] if str(exc) else "?")
        print(
            "FAILED: lost the connection to PostgreSQL during the benchmark: "
            f"{detail}. Is the server still running? Rerun the benchmark: it "
            "starts afresh.",
            file=sys.stderr,
        )
        return 1
    except KeyboardInterrupt:
        print(
            "FAILED: interrupted; scratch databases may be left behind (a rerun "
            "drops them).",
            file=sys.stderr,
        )
        return 130
    print(render_table(results))
    print()
    print(render_summary(results))
    for line in results["skipped"]:
        print(f"skipped {line}")
    print(
        f"\nWrote {options.out / 'results.json'}, {options.out / 'chart.png'} and "
        f"the raw operations (operations-*.csv.gz) to {options.out}/"
    )
    return 0
