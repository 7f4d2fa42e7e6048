"""The fault scenarios: each runs ``alembic upgrade head`` on a scratch database,
breaks it, reruns it to completion and checks the result.

Every repetition gets a fresh database, an application writer committing rows
throughout (in a table of its own, so it fits any history), and the same
checks: the rerun succeeds, the schema equals an uninterrupted run's, and every
row the writer saw committed is there.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from psycopg import sql

from benchmarks.faults.proxy import LoopbackProxy, socket_path
from benchmarks.zero_downtime.schema import fingerprint_differences, schema_fingerprint
from benchmarks.zero_downtime.scratch import ScratchServer
from migrationkit.database import DatabaseTarget

REPO = Path(__file__).resolve().parents[2]
WRITES_TABLE = "fault_app_writes"
DEPLOYS = 8
RUN_TIMEOUT_S = 300
GUARDS = ["-x", "lock_timeout=200ms", "-x", "lock_retries=2"]


@dataclass
class Outcome:
    rows_checked: int = 0
    failures: list[str] = field(default_factory=list)


class Writer:
    """The application: commits one row at a time until stopped; remembers which."""

    def __init__(self, scratch: ScratchServer, name: str) -> None:
        self.scratch = scratch
        self.name = name
        self.committed: list[int] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Writer:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def _run(self) -> None:
        n = 0
        while not self._stop.is_set():
            try:
                with self.scratch.connect(self.name, application_name="fault-app") as c:
                    while not self._stop.is_set():
                        n += 1
                        c.execute(
                            sql.SQL("INSERT INTO {} (n) VALUES (%s)").format(
                                sql.Identifier(WRITES_TABLE)
                            ),
                            (n,),
                        )
                        self.committed.append(n)  # autocommit: committed now
                        self._stop.wait(0.005)
            except Exception:  # noqa: BLE001 - a cut or a kill; the app reconnects
                self._stop.wait(0.05)


class Bench:
    """The server, the reference schema, and how to run Alembic on a database."""

    def __init__(self, scratch: ScratchServer, *, prefix: str) -> None:
        self.scratch = scratch
        self.prefix = prefix
        self.reference: dict[str, list[str]] = {}
        self.reference_seconds = 1.0

    def env(self, target: DatabaseTarget) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("DATABASE_URL")}
        env["DATABASE_URL"] = target.secret_url().reveal()
        env["MIGRATIONKIT_CONNECT_WAIT"] = "0s"
        return env

    def popen(self, target: DatabaseTarget, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [sys.executable, "-m", "alembic", *GUARDS, *args],
            cwd=REPO,
            env=self.env(target),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )

    def run(self, target: DatabaseTarget, *args: str) -> tuple[int, str]:
        process = self.popen(target, *args)
        out, _ = process.communicate(timeout=RUN_TIMEOUT_S)
        return process.returncode, out

    def fresh(self, name: str) -> DatabaseTarget:
        target = self.scratch.recreate(name)
        with self.scratch.connect(name, application_name="fault-setup") as c:
            c.execute(
                sql.SQL("CREATE TABLE {} (n bigint PRIMARY KEY)").format(
                    sql.Identifier(WRITES_TABLE)
                )
            )
        return target

    def fingerprint(self, name: str) -> dict[str, list[str]]:
        with self.scratch.connect(name, application_name="fault-check") as c:
            return schema_fingerprint(c)

    def prepare_reference(self) -> None:
        name = f"{self.prefix}_reference"
        target = self.fresh(name)
        try:
            started = time.monotonic()
            code, out = self.run(target, "upgrade", "head")
            self.reference_seconds = time.monotonic() - started
            if code != 0:
                raise RuntimeError(f"the uninterrupted run failed:\n{out}")
            self.reference = self.fingerprint(name)
        finally:
            self.scratch.drop(name)

    def check(self, name: str, target: DatabaseTarget, writer: Writer) -> Outcome:
        """Rerun to completion; compare the schema; count the writer's rows."""
        outcome = Outcome()
        code, out = self.run(target, "upgrade", "head")
        if code != 0:
            outcome.failures.append(f"the rerun failed: {out.strip()[-400:]}")
            return outcome
        differences = fingerprint_differences(
            self.reference, self.fingerprint(name), names=("reference", "faulted")
        )
        outcome.failures += differences[:5]
        committed = list(writer.committed)
        with self.scratch.connect(name, application_name="fault-check") as c:
            row = c.execute(
                sql.SQL("SELECT count(*) FROM {} WHERE n = ANY(%s)").format(
                    sql.Identifier(WRITES_TABLE)
                ),
                (committed,),
            ).fetchone()
        found = int(row[0]) if row else 0
        outcome.rows_checked = len(committed)
        if found != len(committed):
            outcome.failures.append(f"{len(committed) - found} committed rows lost")
        return outcome


def kill_nine(
    bench: Bench, name: str, target: DatabaseTarget, rng: random.Random
) -> None:
    """SIGKILL of ``alembic upgrade head`` at a random moment of its run."""
    process = bench.popen(target, "upgrade", "head")
    time.sleep(rng.uniform(0, bench.reference_seconds))
    process.send_signal(signal.SIGKILL)
    process.communicate(timeout=RUN_TIMEOUT_S)


def connection_cut(
    bench: Bench, name: str, target: DatabaseTarget, rng: random.Random
) -> None:
    """The run goes through a loopback proxy that closes every connection mid-run."""
    url = target.url
    host = url.query.get("host")
    upstream: str | tuple[str, int]
    if isinstance(host, str) and host.startswith("/"):
        upstream = socket_path(host, url.port)
    else:
        upstream = (url.host or "127.0.0.1", url.port or 5432)
    with LoopbackProxy(upstream=upstream) as proxy:
        query = {k: v for k, v in url.query.items() if k != "host"}
        via = DatabaseTarget(
            url.set(host="127.0.0.1", port=proxy.port, query=query),
            target.source,
            target.password,
        )
        process = bench.popen(via, "upgrade", "head")
        time.sleep(rng.uniform(0, bench.reference_seconds))
        proxy.cut()
        process.communicate(timeout=RUN_TIMEOUT_S)


def lock_holder(
    bench: Bench, name: str, target: DatabaseTarget, rng: random.Random
) -> None:
    """After the first revision, a transaction holds every table while the rest runs."""
    code, out = bench.run(target, "upgrade", "+1")
    if code != 0:
        raise RuntimeError(f"upgrade +1 failed: {out}")
    with bench.scratch.connect(
        name, application_name="fault-lock-holder", autocommit=False
    ) as holder:
        tables = holder.execute(
            "SELECT quote_ident(tablename) FROM pg_tables WHERE schemaname = 'public' "
            "AND tablename <> %s",
            (WRITES_TABLE,),
        ).fetchall()
        for (table,) in tables:
            holder.execute(f"LOCK TABLE {table} IN ACCESS SHARE MODE")
        process = bench.popen(target, "upgrade", "head")
        time.sleep(rng.uniform(0, bench.reference_seconds))
        holder.rollback()
    process.communicate(timeout=RUN_TIMEOUT_S)


def concurrent_deploys(
    bench: Bench, name: str, target: DatabaseTarget, rng: random.Random
) -> None:
    """Eight ``alembic upgrade head`` at once: the migration lock serialises them."""
    processes = [bench.popen(target, "upgrade", "head") for _ in range(DEPLOYS)]
    outputs = [p.communicate(timeout=RUN_TIMEOUT_S)[0] for p in processes]
    failed = [out for p, out in zip(processes, outputs, strict=True) if p.returncode]
    if failed:
        raise RuntimeError(
            f"{len(failed)} of {DEPLOYS} deploys failed: {failed[0][-400:]}"
        )


Scenario = Callable[[Bench, str, DatabaseTarget, random.Random], None]
SCENARIOS: dict[str, Scenario] = {
    "kill -9 of alembic upgrade": kill_nine,
    "connection cut by a proxy": connection_cut,
    "lock holder": lock_holder,
    f"{DEPLOYS} concurrent deploys": concurrent_deploys,
}


def run_once(
    bench: Bench, scenario: Scenario, *, name: str, rng: random.Random
) -> Outcome:
    target = bench.fresh(name)
    try:
        with Writer(bench.scratch, name) as writer:
            try:
                scenario(bench, name, target, rng)
            except RuntimeError as exc:
                return Outcome(failures=[str(exc)])
            return bench.check(name, target, writer)
    finally:
        bench.scratch.drop(name)
