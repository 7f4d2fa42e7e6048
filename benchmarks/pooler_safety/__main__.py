"""``python -m benchmarks.pooler_safety --attempts 200``: print the figures."""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from benchmarks.pooler_safety.attempts import (
    Load,
    Outcome,
    run_attempts,
    run_pinned_attempts,
    write_project,
)
from migrationkit.settings import Settings
from migrationkit.testing.pgbouncer import PgBouncer, login_role
from migrationkit.testing.server import TestServer

REPO = Path(__file__).resolve().parents[2]


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.pooler_safety",
        description=(
            "Run migration attempts through a real PgBouncer in transaction mode "
            "while other clients load the same pool, and print how many got "
            "through and whether any lock or timeout was left behind."
        ),
    )
    parser.add_argument(
        "--attempts", type=int, default=200, help="attempts per mode (default 200)"
    )
    parser.add_argument(
        "--clients", type=int, default=8, help="load clients on the pool (default 8)"
    )
    parser.add_argument(
        "--pool-size", type=int, default=3, help="PgBouncer default_pool_size (3)"
    )
    args = parser.parse_args()
    settings = Settings.from_environ()
    server = TestServer.from_settings(settings, project_dir=REPO)
    started = time.monotonic()
    with (
        server.fresh_database("mk_pooler_bench") as database,
        login_role(server, database) as role,
        PgBouncer(
            server=database.url,
            role=role,
            pool_mode="transaction",
            pool_size=args.pool_size,
        ) as bouncer,
        tempfile.TemporaryDirectory(prefix="mk-pooler-bench-") as folder,
    ):
        pooled = bouncer.pooled_url.set(drivername="postgresql")
        pooled_text = pooled.render_as_string(hide_password=False)
        config_file = write_project(Path(folder))
        engine = server.engine(database)
        pooled_engine = server.engine(bouncer.pooled_url)
        load = Load(url=pooled_text, clients=args.clients).start()
        try:
            results = {
                label: run_attempts(
                    config_file=config_file,
                    pooled_url=pooled_text,
                    server_engine=engine,
                    attempts=args.attempts,
                    declare_session=declared,
                )
                for label, declared in (
                    ("nothing declared", False),
                    ("declared a session pooler (wrongly)", True),
                )
            }
            results["probe skipped, the per-transaction check alone"] = (
                run_pinned_attempts(
                    pooled_engine=pooled_engine,
                    server_engine=engine,
                    attempts=args.attempts,
                )
            )
        finally:
            load.stop()
            engine.dispose()
            pooled_engine.dispose()
    print(
        f"PgBouncer transaction mode, default_pool_size={args.pool_size}, "
        f"{args.clients} load clients, {time.monotonic() - started:.0f}s, "
        f"load average {os.getloadavg()[0]:.2f}"
    )
    for label, outcome in results.items():
        print(_line(label, outcome))
    print(
        f"load clients: {load.transactions} transactions, "
        f"{load.foreign_settings} saw a timeout other than the server default, "
        f"errors {dict(load.errors) or 'none'}"
    )


def _line(label: str, outcome: Outcome) -> str:
    others = sum(outcome.other_failures.values())
    line = (
        f"{label}: {outcome.attempts} attempts, {outcome.completed} completed "
        f"(every transaction in the lock holder's process), {outcome.refused} "
        f"refused before the lock, {outcome.stopped} stopped by the server-process "
        f"check, {others} other failures, {outcome.leaked_locks} left an "
        "advisory lock"
    )
    if others:
        line += f" {dict(outcome.other_failures)}"
    return line


if __name__ == "__main__":
    main()
