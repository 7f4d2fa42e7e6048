"""The backfill's replication-lag throttle against a real streaming standby.

A private primary (the embedded server's binaries, a cluster of its own, never the
shared test server: a standby's lag would throttle every other test's backfill)
gets a standby made the way an operator makes one: ``pg_basebackup -R`` from the
same binaries into a fresh data folder, started on a socket folder and port of its
own. In root mode both run as the primary's system account, the standby's data in
a new random-named folder below /var/lib/migrationkit that only that account and
root may enter (the devserver's own layout); the password reaches
``pg_basebackup`` through its environment, never a file of ours.

Then replay on the standby is paused (``pg_wal_replay_pause()``): the primary's
``pg_stat_replication.replay_lag`` grows, the backfill must wait and say why on its
progress line, commit nothing while it waits, and finish every row once replay
resumes. Everything is polled; the standby is stopped and removed whatever happens.
"""

from __future__ import annotations

import json
import os
import queue
import shutil
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest

from migrationkit.devserver import cluster, running
from migrationkit.devserver.accounts import ServerAccount
from migrationkit.devserver.machine import make_cluster_folder, remove_cluster_folder
from migrationkit.devserver.programs import binaries_dir, spawn_server
from migrationkit.devserver.server import EmbeddedPostgres
from migrationkit.devserver.state import load_state
from migrationkit.errors import EmbeddedServerError

pytestmark = pytest.mark.slow  # servers and clusters of its own

ROWS = 20_000
LAG_LIMIT_SECONDS = 1.0
STANDBY_PORT = running.PORT + 1
WAIT_SECONDS = 120.0


def wait_for(what: str, condition: Callable[[], bool], *, seconds: float = 60) -> None:
    """Poll ``condition`` every 20 ms until it holds; fail naming ``what``."""
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"gave up after {seconds:g} s: {what}"
        time.sleep(0.02)


@dataclass(frozen=True, kw_only=True)
class Standby:
    """A running hot standby of the primary: where to reach it, how to stop it."""

    data_dir: Path
    password: str
    process: subprocess.Popen[bytes]
    log: Path

    def connect(self, dbname: str = "postgres") -> psycopg.Connection[Any]:
        return psycopg.connect(
            host=str(self.data_dir),
            port=STANDBY_PORT,
            user=running.SUPERUSER,
            password=self.password,
            dbname=dbname,
            autocommit=True,
            connect_timeout=5,
        )

    def answers(self, query: str, expected: tuple[Any, ...]) -> bool:
        """Whether ``query`` in the test's database gives ``expected`` here yet
        (False while the standby has not replayed the database's creation)."""
        try:
            with self.connect("lag") as conn:
                return conn.execute(query).fetchone() == expected
        except psycopg.errors.UndefinedTable:
            return False
        except psycopg.OperationalError as exc:
            if "does not exist" in str(exc):
                return False
            raise


@pytest.fixture
def primary() -> Iterator[EmbeddedPostgres]:
    """A private cluster of the embedded server's binaries, destroyed afterwards."""
    # outside pytest's temp tree, for the reason given in tests/test_embedded.py
    holder = Path(tempfile.mkdtemp(prefix="mk-standby-"))
    server = EmbeddedPostgres(holder / "pgdata")
    try:
        server.ensure_running()
        # Standbys report what they replayed every wal_receiver_status_interval
        # when no new WAL reaches them (10 s by default); 1 s keeps this test
        # short. Set here, it reaches the standby with the base backup.
        with connect_primary(server) as conn:
            conn.execute("ALTER SYSTEM SET wal_receiver_status_interval = '1s'")
        yield server
    finally:
        # In root mode this removes the account too, and with it any process
        # still running as it (a standby that would not stop included).
        server.destroy()
        shutil.rmtree(holder, ignore_errors=True)


def connect_primary(
    server: EmbeddedPostgres, dbname: str = "postgres"
) -> psycopg.Connection[Any]:
    state = load_state(server.root)
    assert state is not None
    return running.connect(server.root, state, dbname=dbname)


def superuser_password(server: EmbeddedPostgres) -> str:
    """From the cluster's passfile (root's, 0600): ``*:*:*:postgres:<password>``."""
    line = (server.root / running.PASSFILE).read_text().strip()
    return line.split(":", 4)[4]


def run_as(
    account: ServerAccount | None, argv: list[str], *, env: dict[str, str]
) -> subprocess.CompletedProcess[str]:
    """Run ``argv`` as the server's account, as the devserver runs its programs."""
    options: dict[str, Any] = {"cwd": "/", "umask": 0o077}
    if account is not None:
        options |= {"user": account.uid, "group": account.gid, "extra_groups": []}
    return subprocess.run(
        argv,
        env={"PATH": "/usr/bin:/bin", **env},
        capture_output=True,
        text=True,
        timeout=WAIT_SECONDS,
        check=False,
        **options,
    )


@pytest.fixture
def standby(primary: EmbeddedPostgres) -> Iterator[Standby]:
    """``pg_basebackup -R`` of ``primary``, started as a streaming hot standby."""
    state = load_state(primary.root)
    assert state is not None
    account = state.account
    bin_dir = cluster.server_binaries(state, binaries_dir())
    password = superuser_password(primary)
    primary_socket = primary.status().socket_dir
    assert primary_socket is not None
    if account is not None:
        # root mode: root's folder with a random name, its account's group may pass
        folder = make_cluster_folder(gid=account.gid)
    else:
        folder = Path(tempfile.mkdtemp(prefix="mk-standby-data-"))
    data_dir = folder / "data"
    log = Path(tempfile.mkdtemp(prefix="mk-standby-log-")) / "standby.log"
    process: subprocess.Popen[bytes] | None = None
    try:
        data_dir.mkdir(mode=0o700)
        if account is not None:
            os.chown(data_dir, account.uid, account.gid)
        backup = run_as(
            account,
            [
                str(bin_dir / "pg_basebackup"),
                "--pgdata",
                str(data_dir),
                "--write-recovery-conf",
                "--wal-method=stream",
                "--checkpoint=fast",
                "--host",
                str(primary_socket),
                "--port",
                str(running.PORT),
                "--username",
                running.SUPERUSER,
                "--no-password",
            ],
            env={"PGPASSWORD": password},
        )
        assert backup.returncode == 0, backup.stderr
        assert (data_dir / "standby.signal").exists()
        log_fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            process = spawn_server(
                bin_dir,
                account=account,
                data_dir=data_dir,
                socket_dir=data_dir,
                port=STANDBY_PORT,
                log_fd=log_fd,
            )
        finally:
            os.close(log_fd)
        made = Standby(data_dir=data_dir, password=password, process=process, log=log)
        started = process

        def accepts_connections() -> bool:
            assert started.poll() is None, log.read_text()
            try:
                with made.connect() as conn:
                    return bool(conn.execute("SELECT pg_is_in_recovery()").fetchone())
            except psycopg.OperationalError:
                return False

        wait_for("the standby accepts connections", accepts_connections)
        with connect_primary(primary) as conn:
            wait_for(
                "the primary streams to the standby",
                lambda: (
                    conn.execute(
                        "SELECT count(*) FROM pg_stat_replication"
                        " WHERE state = 'streaming'"
                    ).fetchone()
                    == (1,)
                ),
            )
        yield made
    finally:
        if process is not None and process.poll() is None:
            try:
                running.stop_server(bin_dir, data_dir, account=account)
            except EmbeddedServerError:
                process.kill()  # our own child, by its handle
            process.wait(timeout=60)
        if account is not None:
            remove_cluster_folder(folder)
        else:
            shutil.rmtree(folder, ignore_errors=True)
        shutil.rmtree(log.parent, ignore_errors=True)


BACKFILL = textwrap.dedent(
    """
    import dataclasses, json, os
    import sqlalchemy as sa
    from migrationkit.ops.backfill import Throttle, run_backfill

    engine = sa.create_engine(os.environ["BACKFILL_URL"], poolclass=sa.NullPool)
    with engine.connect() as conn:
        report = run_backfill(
            conn,
            table="items",
            set_sql="label = 'item-' || id, touched = touched + 1",
            pending_sql="label IS NULL",
            batch_size=500,
            target_batch_seconds=None,
            strategy="ctid",
            throttle=Throttle(
                replay_lag_limit_seconds=float(os.environ["LAG_LIMIT"]),
                probe_limit_seconds=60,  # only the lag may hold it back here
                lock_wait_limit_seconds=60,
                pause_seconds=0.05,
                max_pause_seconds=0.2,
            ),
        )
    print(json.dumps(dataclasses.asdict(report)))
    """
)


def replay_lag(conn: psycopg.Connection[Any]) -> float:
    """The standby's replay lag as the primary sees it (0 when none is shown)."""
    row = conn.execute(
        "SELECT coalesce(extract(epoch FROM max(replay_lag)), 0)::float"
        " FROM pg_stat_replication"
    ).fetchone()
    assert row is not None
    return float(row[0])


def done_rows(conn: psycopg.Connection[Any]) -> int:
    row = conn.execute("SELECT count(*) FROM items WHERE label IS NOT NULL").fetchone()
    assert row is not None
    return int(row[0])


ALL_DONE_ONCE = (
    "SELECT count(*) FILTER (WHERE label = 'item-' || id),"
    " count(*) FILTER (WHERE touched = 1), count(*) FROM items"
)
"""Rows with the right value, rows updated exactly once, rows."""


class Lines:
    """A process's stderr, line by line, read on a thread of its own."""

    def __init__(self, stream: Any) -> None:
        self.seen: list[str] = []
        self._queue: queue.Queue[str] = queue.Queue()
        self._thread = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self._thread.start()

    def _read(self, stream: Any) -> None:
        for line in stream:
            self._queue.put(line)

    def next_matching(self, text: str, *, seconds: float = 60) -> str:
        """Wait for the next line containing ``text``."""
        deadline = time.monotonic() + seconds
        while True:
            left = deadline - time.monotonic()
            assert left > 0, f"no line with {text!r} in:\n{''.join(self.seen)}"
            try:
                line = self._queue.get(timeout=min(left, 0.5))
            except queue.Empty:
                if not self._thread.is_alive() and self._queue.empty():
                    raise AssertionError(  # the stream ended: nothing more to come
                        f"no line with {text!r} in:\n{''.join(self.seen)}"
                    ) from None
                continue
            self.seen.append(line)
            if text in line:
                return line

    def rest(self) -> str:
        self._thread.join(timeout=30)
        while not self._queue.empty():
            self.seen.append(self._queue.get())
        return "".join(self.seen)


def test_a_lagging_standby_holds_the_backfill_until_replay_resumes(
    primary: EmbeddedPostgres, standby: Standby
) -> None:
    url = primary.ensure_database("lag")
    with connect_primary(primary, "lag") as conn:
        conn.execute(
            "CREATE TABLE items (id bigint PRIMARY KEY, label text,"
            " touched int NOT NULL DEFAULT 0)"
        )
        conn.execute(
            "INSERT INTO items (id) SELECT g FROM generate_series(1, %s) g", (ROWS,)
        )
        conn.execute("CREATE TABLE traffic (n int)")
        # the standby has it all before replay stops
        wait_for(
            "the standby replays the table",
            lambda: standby.answers("SELECT count(*) FROM items", (ROWS,)),
        )
        with standby.connect("lag") as replica:
            replica.execute("SELECT pg_wal_replay_pause()")

            def lagging() -> bool:
                # WAL the paused standby receives but does not replay
                conn.execute("INSERT INTO traffic VALUES (1)")
                return replay_lag(conn) > LAG_LIMIT_SECONDS

            wait_for("replay lag over the limit", lagging)
            paused = replica.execute("SELECT pg_get_wal_replay_pause_state()")
            assert paused.fetchone() == ("paused",)

        backfill = subprocess.Popen(
            [sys.executable, "-c", BACKFILL],
            env={
                **os.environ,
                "BACKFILL_URL": url.render_as_string(hide_password=False),
                "LAG_LIMIT": str(LAG_LIMIT_SECONDS),
            },
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            lines = Lines(backfill.stderr)
            # The backfill says it waits, and why; nothing is committed meanwhile.
            first = lines.next_matching("waiting: replay-lag")
            held_at = done_rows(conn)
            second = lines.next_matching("waiting: replay-lag")
            assert done_rows(conn) == held_at < ROWS
            assert backfill.poll() is None
            lag_said = float(second.split("waiting: replay-lag ", 1)[1].split(" s")[0])
            assert lag_said > LAG_LIMIT_SECONDS, second
            assert f"limit {LAG_LIMIT_SECONDS:g} s" in first

            with standby.connect("lag") as replica:
                replica.execute("SELECT pg_wal_replay_resume()")
            out, _ = backfill.communicate(timeout=WAIT_SECONDS)
        finally:
            if backfill.poll() is None:
                backfill.kill()  # our own child
                backfill.wait(timeout=30)
        err = lines.rest()
        assert backfill.returncode == 0, err
        report = json.loads(out)
        assert report["updated"] == ROWS, err
        assert report["reasons"].get("replay-lag", 0) >= 2, report
        assert report["longest_replay_lag_seconds"] > LAG_LIMIT_SECONDS, report
        assert report["throttled_seconds"] > 0, report
        assert "replay-lag" in err.splitlines()[-1], err  # the closing line says so
        assert conn.execute(ALL_DONE_ONCE).fetchone() == (ROWS, ROWS, ROWS)

    # ... and the standby, replaying again, ends with the same rows.
    wait_for(
        "the standby replays the backfill",
        lambda: standby.answers(ALL_DONE_ONCE, (ROWS, ROWS, ROWS)),
    )
