"""``python -m benchmarks.deploy``: a rolling deploy of the real service under load.

For each history (the project's, then the naive one as the control), in a
scratch database ``<prefix>_<history>`` (never the configured one):

1. migrate up to the old release's revision, loading ``--rows`` users and as
   many login events as soon as their tables exist (the zero-downtime
   benchmark's loaders);
2. start the old release (``release.py``, ``--workers`` uvicorn processes) and
   a fixed-rate load (``traffic.py``); measure a quiet "before" phase;
3. apply the deploy's revisions one at a time (each phase lasts at least
   ``--settle`` seconds); after the switch step start the new release and let
   both serve; after the last step take the old release out of the rotation
   and stop it; measure an "after" phase;
4. count the users and login events the service said it wrote, in the
   database afterwards.

Then, in ``<prefix>_speed``, one whole-table UPDATE against the two backfill
strategies on the same data (``speed.py``). Expected failures print
``FAILED: ...`` and exit 1 (``--debug``: traceback).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.deploy.report import DeployResult, Phase, draw_chart, figures
from benchmarks.deploy.speed import SpeedResult, measure_speed
from benchmarks.deploy.traffic import Traffic
from benchmarks.zero_downtime.cli import NAIVE_GUARDS_OFF, NAIVE_X_ARGS
from benchmarks.zero_downtime.history import list_revisions
from benchmarks.zero_downtime.load import (
    load_login_events,
    load_users,
    table_exists,
    user_id,
)
from benchmarks.zero_downtime.scratch import (
    ScratchServer,
    benchmark_settings,
    check_prefix,
)
from benchmarks.zero_downtime.worker import MigrationWorker
from migrationkit.command import load_config
from migrationkit.database import mask_secrets, resolve_database
from migrationkit.errors import MigrationKitError
from migrationkit.testing.pgbouncer import free_port
from migrationkit.testing.processes import terminate
from service.database import APPLICATION_NAME

REPO = Path(__file__).resolve().parents[2]
INI = REPO / "alembic.ini"
DRAIN_SECONDS = 1.0
"""Between taking the old release out of the rotation and stopping it."""
NAIVE_VERSIONS = REPO / "benchmarks" / "naive" / "versions"


def _count(text: str) -> int:
    value = int(text.replace("_", ""))
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {text}")
    return value


def _seconds(text: str) -> float:
    value = float(text)
    if not 0 < value <= 600:
        raise argparse.ArgumentTypeError(f"must be 0..600 seconds, got {text}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.deploy",
        description=(
            "Rolling deploy of the service under a fixed-rate HTTP load: old and "
            "new releases serve while the last --steps revisions are applied one "
            "at a time, for the project's history and the naive control; then one "
            "whole-table UPDATE against the batched backfills. Scratch databases "
            "<prefix>_safe, <prefix>_naive and <prefix>_speed are dropped after."
        ),
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    add = parser.add_argument
    add("--rows", type=_count, default=100_000,
        help="users, and as many login events (10000000: production size)")  # fmt: skip
    add("--speed-rows", type=_count, default=1_000_000,
        help="rows of the UPDATE-vs-backfill comparison")  # fmt: skip
    add("--rate", type=_count, default=60, help="requests per second")
    add("--workers", type=_count, default=2, help="uvicorn processes per release")
    add("--settle", type=_seconds, default=5.0,
        help="seconds of before/after, and the least each step lasts")  # fmt: skip
    add("--steps", type=_count, default=4,
        help="the deploy: the last N revisions (expand..contract)")  # fmt: skip
    add("--new-after", type=_count, default=3,
        help="the new release starts after this many steps (switch)")  # fmt: skip
    add("--old-binds", choices=("untyped", "varchar"), default="untyped",
        help="how the old release binds login_events.ip_address: without a cast "
        "(works on TEXT and INET) or as VARCHAR (SQLAlchemy's Text: refused once "
        "the column is INET; the control of docs/rolling-deploy.md)")  # fmt: skip
    add("--histories", default="safe,naive",
        help="which histories to deploy, comma-separated")  # fmt: skip
    add("--db-prefix", default="deploy_bench", help="scratch databases' prefix")
    add("--database-url", default=None,
        help="server (default: DATABASE_URL, else the embedded server)")  # fmt: skip
    add("--json", type=Path, default=None, help="also write the figures here")
    add("--chart", type=Path, default=None, help="also draw latency over time here")
    add("--debug", action="store_true", help="show tracebacks for expected errors")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        results, speed, machine = run(args)
    except MigrationKitError as exc:
        if args.debug:
            raise
        print(f"FAILED: {mask_secrets(str(exc))}", file=sys.stderr)
        return 1
    for result in results:
        print(result.render())
        print()
    print(speed.render())
    print(
        f"\nMachine: {machine['machine']}; load average at the end: {machine['load']}"
    )
    if args.json is not None:
        document = {
            "machine": machine,
            "options": {
                "rows": args.rows,
                "rate": args.rate,
                "workers": args.workers,
                "old_binds": args.old_binds,
            },
            "histories": {r.history: r.as_json() for r in results},
            "speed": speed.as_json(),
        }
        args.json.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
        print(f"Wrote {args.json}")
    if args.chart is not None:
        draw_chart(results, args.chart)
        print(f"Wrote {args.chart}")
    return 0


def run(
    args: argparse.Namespace,
) -> tuple[list[DeployResult], SpeedResult, dict[str, Any]]:
    prefix = check_prefix(args.db_prefix)
    settings = benchmark_settings(database_url=args.database_url)
    home = resolve_database(settings=settings, config=load_config(INI))
    scratch = ScratchServer(home, settings)
    version = scratch.open_check()
    histories = [h.strip() for h in args.histories.split(",") if h.strip()]
    unknown = set(histories) - {"safe", "naive"}
    if unknown or not histories:
        raise MigrationKitError(
            f"--histories {args.histories!r}: choose from safe and naive"
        )
    results = [
        Deploy(args=args, scratch=scratch, history=name, prefix=prefix).run()
        for name in histories
    ]
    name = f"{prefix}_speed"
    target = scratch.recreate(name)
    try:
        with scratch.connect(name, application_name="deploy-speed") as conn:
            speed = measure_speed(conn, target, rows=args.speed_rows)
    finally:
        scratch.drop(name)
    machine = {
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, "
        f"{platform.system()} {platform.release()}, PostgreSQL {version}",
        "load": " ".join(f"{v:.2f}" for v in os.getloadavg()),
    }
    return results, speed, machine


@dataclass(kw_only=True)
class Deploy:
    args: argparse.Namespace
    scratch: ScratchServer
    history: str
    prefix: str

    def run(self) -> DeployResult:
        versions = NAIVE_VERSIONS if self.history == "naive" else None
        revisions = [r.revision for r in list_revisions(ini=INI, versions=versions)]
        steps = self.args.steps
        if not 0 < self.args.new_after <= steps < len(revisions):
            raise MigrationKitError(
                f"--steps {steps} / --new-after {self.args.new_after}: the history "
                f"has {len(revisions)} revisions; need 0 < new-after <= steps < that"
            )
        old, deploy = revisions[-steps - 1], revisions[-steps:]
        switch = deploy[self.args.new_after - 1]
        name = f"{self.prefix}_{self.history}"
        target = self.scratch.recreate(name)
        say(f"{self.history}: scratch database {target.masked}")
        env = dict(os.environ)
        env.pop("DATABASE_URL_DIRECT", None)
        env["DATABASE_URL"] = target.secret_url().reveal()
        env["DEPLOY_OLD_BINDS"] = self.args.old_binds
        if self.history == "naive":
            env.update(NAIVE_GUARDS_OFF)
        log = Path(tempfile.mkdtemp(prefix="deploy-bench-"))
        try:
            with MigrationWorker(
                project=REPO,
                ini=INI,
                versions=versions,
                env=env,
                x_args=NAIVE_X_ARGS if self.history == "naive" else [],
                log=log / "alembic.log",
            ) as worker:
                self.prepare(worker, revisions[: revisions.index(old) + 1], name)
                return self.deploy(worker, env, deploy, old=old, switch=switch)
        finally:
            self.scratch.drop(name)

    def prepare(self, worker: MigrationWorker, upto: list[str], name: str) -> None:
        """Migrate to the old release's revision, loading rows on the way."""
        rows = self.args.rows
        users = events = False
        with self.scratch.connect(name, application_name="deploy-loader") as loader:
            for revision in upto:
                worker.upgrade(revision)
                if not users and table_exists(loader, "users"):
                    load_users(loader, rows=rows, chunk=50_000, label=self.history)
                    users = True
                if not events and table_exists(loader, "login_events"):
                    load_login_events(
                        loader, rows=rows, users=rows, chunk=50_000, label=self.history
                    )
                    events = True

    def deploy(
        self,
        worker: MigrationWorker,
        env: dict[str, str],
        steps: list[str],
        *,
        old: str,
        switch: str,
    ) -> DeployResult:
        settle = self.args.settle
        everything = [old, *steps]
        ids = [str(user_id(n)) for n in range(1, min(self.args.rows, 5_000) + 1)]
        traffic = Traffic(rate=self.args.rate, user_ids=ids)
        monitor = LockWaits(self.scratch, f"{self.prefix}_{self.history}")
        marks: list[Phase] = []

        def phase(name: str, began: float) -> None:
            marks.append(Phase(name=name, start=began, end=time.monotonic()))

        with ExitStack() as stack, ExitStack() as old_release:
            old_port = old_release.enter_context(
                release(env, "old", everything, workers=self.args.workers)
            )
            stack.enter_context(monitor.running())
            stack.callback(traffic.stop)
            traffic.set_ports([old_port])
            traffic.start()
            origin = began = time.monotonic()
            time.sleep(settle)
            phase("before (old)", began)
            new_port = old_port
            for revision in steps:
                began = time.monotonic()
                say(f"{self.history}: upgrade {revision}")
                worker.upgrade(revision)
                sleep_until(began + settle)
                phase(f"upgrade {revision}", began)
                if revision == switch:
                    began = time.monotonic()
                    supports = everything[everything.index(switch) :]
                    new_port = stack.enter_context(
                        release(env, "new", supports, workers=self.args.workers)
                    )
                    traffic.set_ports([old_port, new_port])
                    sleep_until(began + settle)
                    phase("rollout (old+new)", began)
            began = time.monotonic()
            traffic.set_ports([new_port])  # out of the rotation, then stopped
            time.sleep(DRAIN_SECONDS)
            old_release.close()
            sleep_until(began + settle)
            phase("after (new)", began)
            traffic.stop()  # before the new release stops: no request cut short
            names = {old_port: "old", new_port: "new"}
        found = self.found(traffic)
        answers = traffic.answers
        waits = monitor.waits
        phases = [
            figures(p.name, answers, waits, start=p.start, end=p.end) for p in marks
        ]
        overall = figures("overall", answers, waits, start=marks[0].start,
                          end=marks[-1].end)  # fmt: skip
        return DeployResult(
            history=self.history,
            phases=phases,
            overall=overall,
            written={
                "users": len(traffic.created_users),
                "login_events": len(traffic.created_logins),
            },
            found=found,
            failures=dict(
                Counter(
                    f"{names.get(a.port, '?')} release, {a.describe()}"
                    for a in answers
                    if a.failed
                )
            ),
            points=[
                (a.scheduled - origin, a.seconds * 1000, a.failed) for a in answers
            ],
            marks=[(p.name, p.start - origin, p.end - origin) for p in marks],
        )

    def found(self, traffic: Traffic) -> dict[str, int]:
        name = f"{self.prefix}_{self.history}"
        with self.scratch.connect(name, application_name="deploy-check") as conn:
            users = conn.execute(
                "SELECT count(*) FROM users WHERE id = ANY(%s::uuid[])",
                (traffic.created_users,),
            ).fetchone()
            logins = conn.execute(
                "SELECT count(*) FROM login_events WHERE id = ANY(%s::bigint[])",
                (traffic.created_logins,),
            ).fetchone()
        return {
            "users": int(users[0]) if users else 0,
            "login_events": int(logins[0]) if logins else 0,
        }


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def sleep_until(moment: float) -> None:
    time.sleep(max(0.0, moment - time.monotonic()))


@contextmanager
def release(
    env: dict[str, str], which: str, supports: list[str], *, workers: int
) -> Iterator[int]:
    """Release ``which`` under uvicorn on a free loopback port; yields the port."""
    port = free_port()
    child_env = dict(env)
    child_env.update(DEPLOY_RELEASE=which, DEPLOY_SUPPORTS=",".join(supports))
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "benchmarks.deploy.release:create_app",
                "--factory",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--workers",
                str(workers),
                "--log-level",
                "warning",
                "--timeout-keep-alive",
                "30",
                "--timeout-graceful-shutdown",
                "10",
            ],
            cwd=REPO,
            env=child_env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            wait_healthy(process, port, log)
            say(f"{which} release serving on port {port} ({workers} workers)")
            yield port
        finally:
            terminate(process)
            say(f"{which} release stopped")


def wait_healthy(process: subprocess.Popen[bytes], port: int, log: Any) -> None:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline and process.poll() is None:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=5):
                return
        except (urllib.error.URLError, OSError):
            time.sleep(0.1)
    log.seek(0)
    output = log.read().decode(errors="replace")
    raise MigrationKitError(
        f"a release did not become healthy:\n{mask_secrets(output)}"
    )


class LockWaits:
    """Polls the longest lock wait of any request of the service, every 20 ms."""

    def __init__(self, scratch: ScratchServer, database: str) -> None:
        self.scratch = scratch
        self.database = database
        self.waits: list[tuple[float, float]] = []
        self._stop = threading.Event()

    @contextmanager
    def running(self) -> Iterator[None]:
        thread = threading.Thread(target=self._poll, daemon=True, name="lock-waits")
        thread.start()
        try:
            yield
        finally:
            self._stop.set()
            thread.join(timeout=10)

    def _poll(self) -> None:
        with self.scratch.connect(self.database, application_name="deploy-locks") as c:
            while not self._stop.wait(0.02):
                row = c.execute(
                    "SELECT extract(epoch FROM max(clock_timestamp() - l.waitstart))"
                    " FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid"
                    " WHERE NOT l.granted AND a.application_name = %s",
                    (APPLICATION_NAME,),
                ).fetchone()
                if row and row[0] is not None:
                    self.waits.append((time.monotonic(), float(row[0])))
