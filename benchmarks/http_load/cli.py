"""``python -m benchmarks.http_load``: scratch database, service, load, figures.

Expected failures (``MigrationKitError``: server unreachable, no CREATEDB, no
pgbouncer) become ``FAILED: ...`` and exit code 1; ``--debug`` shows the
traceback instead. The scratch database is dropped afterwards unless ``--keep``.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import IO

from sqlalchemy.engine import URL, make_url

from benchmarks.http_load.load import LoadPlan, run_load
from benchmarks.http_load.report import LoadReport
from benchmarks.zero_downtime.scratch import (
    ScratchServer,
    benchmark_settings,
    check_prefix,
)
from migrationkit.command import load_config
from migrationkit.database import mask_secrets, resolve_database
from migrationkit.errors import MigrationKitError
from migrationkit.settings import Settings
from migrationkit.testing.pgbouncer import PgBouncer, free_port, login_role
from migrationkit.testing.processes import terminate
from migrationkit.testing.server import TestServer

REPO = Path(__file__).resolve().parents[2]
MAX_DURATION = 300.0
MAX_CLIENTS = 64
PGBOUNCER_POOL = 5
"""Server connections PgBouncer keeps: the service's own pool (5) fits in it."""


def _bounded(
    kind: type[int] | type[float], low: float, high: float
) -> Callable[[str], int | float]:
    def parse(text: str) -> int | float:
        value = kind(text)
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"must be {low:g}..{high:g}, got {text}")
        return value

    return parse


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.http_load",
        description=(
            "Start the service on a loopback port over a scratch database "
            "(<prefix>_db on the configured server, dropped afterwards) and load it "
            "with concurrent keep-alive clients for a bounded time; print requests "
            "per second and p50/p95/p99/max latency per kind of request."
        ),
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    add = parser.add_argument
    add("--duration", type=_bounded(float, 1, MAX_DURATION), default=10.0,
        help="seconds of measured load")  # fmt: skip
    add("--warmup", type=_bounded(float, 0, 60), default=2.0,
        help="seconds of load before measuring (not counted)")  # fmt: skip
    add("--clients", type=_bounded(int, 1, MAX_CLIENTS), default=8,
        help="concurrent clients, one request at a time each")  # fmt: skip
    add("--max-requests", type=_bounded(int, 1, 10_000_000), default=1_000_000,
        help="stop after this many measured requests even if time remains")  # fmt: skip
    add("--users", type=_bounded(int, 1, 1_000_000), default=1_000,
        help="users in the table before the load starts")  # fmt: skip
    add("--through-pgbouncer", action="store_true",
        help="the service connects through PgBouncer in transaction mode "
        "(the migration through DATABASE_URL_DIRECT)")  # fmt: skip
    add("--db-prefix", default="http_load",
        help="the scratch database is <prefix>_db")  # fmt: skip
    add("--database-url", default=None,
        help="server (default: DATABASE_URL, else the embedded server)")  # fmt: skip
    add("--json", type=Path, default=None, help="also write the figures here")
    add("--keep", action="store_true", help="keep the scratch database afterwards")
    add("--debug", action="store_true", help="show tracebacks for expected errors")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = benchmark_settings(database_url=args.database_url)
        report = run_benchmark(args, settings=settings)
    except MigrationKitError as exc:
        if args.debug:
            raise
        print(f"FAILED: {exc}", file=sys.stderr)
        return 1
    print(report.render())
    if args.json is not None:
        report.write_json(args.json)
        print(f"\nWrote {args.json}")
    return 0


def run_benchmark(args: argparse.Namespace, *, settings: Settings) -> LoadReport:
    prefix = check_prefix(args.db_prefix)
    home = resolve_database(settings=settings, config=load_config(REPO / "alembic.ini"))
    scratch = ScratchServer(home, settings)
    version = scratch.open_check()
    name = f"{prefix}_db"
    target = scratch.recreate(name)
    try:
        with ExitStack() as stack:
            # The child processes need the password (DATABASE_URL); it is
            # handed to them through their environment only.
            direct = service_url = make_url(target.secret_url().reveal())
            path = "directly on PostgreSQL"
            if args.through_pgbouncer:
                server = TestServer(admin=home, settings=settings)
                role = stack.enter_context(login_role(server, target))
                bouncer = stack.enter_context(
                    PgBouncer(server=target.url, role=role, pool_size=PGBOUNCER_POOL)
                )
                direct, service_url = bouncer.direct_url, bouncer.pooled_url
                path = f"through PgBouncer (transaction mode, pool {PGBOUNCER_POOL})"
            migrate(pooled=service_url, direct=direct)
            user_ids = seed_users(scratch, name, count=args.users)
            port = stack.enter_context(running_service(service_url))
            plan = LoadPlan(
                port=port,
                clients=args.clients,
                duration=args.warmup,
                max_requests=args.max_requests,
                user_ids=user_ids,
            )
            if args.warmup:
                run_load(plan)
            measured = dataclasses.replace(plan, duration=args.duration)
            began = time.perf_counter()
            samples = run_load(measured)
            seconds = time.perf_counter() - began
    finally:
        if not args.keep:
            scratch.drop(name)
    return LoadReport.build(
        samples,
        path=path,
        clients=args.clients,
        seconds=seconds,
        server_version=version,
    )


def _child_env(**variables: URL) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DATABASE_URL")}
    env.update(
        {
            name: url.render_as_string(hide_password=False)
            for name, url in variables.items()
        }
    )
    return env


def migrate(*, pooled: URL, direct: URL) -> None:
    """``alembic upgrade head`` as a deploy runs it: the direct URL for migrating."""
    done = subprocess.run(
        [sys.executable, "-m", "alembic", "upgrade", "head"],
        cwd=REPO,
        env=_child_env(DATABASE_URL=pooled, DATABASE_URL_DIRECT=direct),
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise MigrationKitError(
            f"alembic upgrade head failed:\n{mask_secrets(done.stdout + done.stderr)}"
        )


def seed_users(scratch: ScratchServer, name: str, *, count: int) -> list[str]:
    with scratch.connect(name, application_name="http_load") as conn:
        rows = conn.execute(
            "INSERT INTO users (id, email, username, is_active)"
            " SELECT gen_random_uuid(), 'seed' || g || '@example.com', 'seed' || g,"
            "        true"
            "   FROM generate_series(1, %s) AS g"
            " RETURNING id",
            (count,),
        ).fetchall()
    return [str(row[0]) for row in rows]


@contextmanager
def running_service(database: URL) -> Iterator[int]:
    """``main.py`` on a free loopback port until the block ends; yields the port."""
    port = free_port()
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen(
            [sys.executable, "main.py", "--port", str(port)],
            cwd=REPO,
            env=_child_env(DATABASE_URL=database),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            _wait_healthy(process, port, log)
            yield port
        finally:
            terminate(process)


def _wait_healthy(process: subprocess.Popen[bytes], port: int, log: IO[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and process.poll() is None:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=5):
                return
        except (urllib.error.URLError, OSError):
            time.sleep(0.1)
    log.seek(0)
    output = log.read().decode(errors="replace")
    raise MigrationKitError(
        f"the service did not become healthy:\n{mask_secrets(output)}"
    )
