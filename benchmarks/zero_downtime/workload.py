"""The busy application the migrations must not stall: writers, readers, a lock spy.

Each client is a thread with its own psycopg connection in autocommit mode, as a
web application's pooled connections would be. Writers update a random existing
user and, once ``login_events`` is loaded, record a login; readers look a user up
by e-mail. Every operation is timed with ``time.monotonic`` (a system-wide clock,
so it lines up with the migration worker's timestamps). A monitor thread asks
``pg_stat_activity`` every few milliseconds which clients are waiting on a lock.

A ``statement_timeout`` on every client connection guarantees that nothing hangs
for ever: an operation cut off by it is recorded as an error with the time it
waited, so a stall is never hidden, only capped.
"""

from __future__ import annotations

import bisect
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import psycopg

from benchmarks.zero_downtime.load import user_email, user_id

_INSERT_LOGIN = (
    # An untyped literal is valid for the text column and for the inet column the
    # type change produces, so one statement serves every revision.
    "INSERT INTO login_events (user_id, ip_address) VALUES (%s, '192.0.2.{octet}')"
)
_UPDATE_USER = "UPDATE users SET first_name = %s WHERE id = %s"
_SELECT_USER = "SELECT id, first_name FROM users WHERE email = %s"
_LOCK_WAITERS = (
    "SELECT pid FROM pg_stat_activity"
    " WHERE datname = current_database() AND application_name = %s"
    "   AND wait_event_type = 'Lock'"
)

Connector = Callable[[str], psycopg.Connection[tuple[Any, ...]]]
"""Opens an autocommit connection with the given application_name."""


class OpKind(StrEnum):
    WRITE = "write"
    READ = "read"


@dataclass(frozen=True, slots=True)
class Operation:
    """One statement a client ran: when, how long, and whether it succeeded."""

    kind: OpKind
    statement: str
    pid: int
    started: float
    finished: float
    error: str | None = None

    @property
    def latency_ms(self) -> float:
        return (self.finished - self.started) * 1000.0


@dataclass(frozen=True, kw_only=True)
class WorkloadShape:
    """How busy the application is."""

    users: int
    writers: int = 2
    readers: int = 2
    pause_s: float = 0.005
    """Think time between one client's operations (keeps a shared CPU usable)."""
    statement_timeout_ms: int = 120_000
    sample_interval_s: float = 0.01
    seed: int = 42


@dataclass
class LockSamples:
    """For each client pid, the sorted times at which it was seen waiting on a lock."""

    by_pid: dict[int, list[float]] = field(default_factory=dict)
    samples: int = 0

    def waited(self, op: Operation) -> bool:
        times = self.by_pid.get(op.pid)
        if not times:
            return False
        i = bisect.bisect_left(times, op.started)
        return i < len(times) and times[i] <= op.finished


class Workload:
    """Start it, let revisions run, stop it, then read ``operations``."""

    def __init__(self, *, shape: WorkloadShape, connector: Connector, tag: str) -> None:
        self.shape = shape
        self.connector = connector
        self.application_name = f"bench-workload-{tag}"[:63]
        self.operations: list[Operation] = []
        self.locks = LockSamples()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._events_ready = threading.Event()
        self._threads: list[threading.Thread] = []
        self._failures: list[BaseException] = []

    def start(self) -> None:
        clients: list[tuple[str, Callable[[int], None]]] = [
            *((f"writer-{i}", self._writer) for i in range(self.shape.writers)),
            *((f"reader-{i}", self._reader) for i in range(self.shape.readers)),
        ]
        for index, (name, body) in enumerate(clients):
            thread = threading.Thread(
                target=self._guard, args=(body, index), name=name, daemon=True
            )
            self._threads.append(thread)
        monitor = threading.Thread(
            target=self._guard,
            args=(self._monitor, -1),
            name="lock-monitor",
            daemon=True,
        )
        self._threads.append(monitor)
        for thread in self._threads:
            thread.start()

    def enable_login_events(self) -> None:
        """From now on writers also insert login events (the table is loaded)."""
        self._events_ready.set()

    def stop(self, *, raise_failures: bool = True) -> None:
        """Stop every client; re-raise the first client failure, if any."""
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=self.shape.statement_timeout_ms / 1000 + 10)
        if self._failures and raise_failures:
            raise self._failures[0]

    def _guard(self, body: Callable[[int], None], index: int) -> None:
        try:
            body(index)
        except BaseException as exc:  # noqa: BLE001 - re-raised by stop()
            self._failures.append(exc)
            self._stop.set()

    def _connect(self) -> psycopg.Connection[tuple[Any, ...]]:
        conn = self.connector(self.application_name)
        conn.execute(f"SET statement_timeout = {int(self.shape.statement_timeout_ms)}")
        return conn

    def _run_client(
        self,
        index: int,
        choose: Callable[[random.Random], tuple[OpKind, str, tuple[Any, ...]]],
    ) -> None:
        rng = random.Random(self.shape.seed * 1000 + index)  # noqa: S311 - not crypto
        conn = self._connect()
        try:
            while not self._stop.is_set():
                kind, statement, params = choose(rng)
                pid = conn.info.backend_pid
                started = time.monotonic()
                error: str | None = None
                try:
                    conn.execute(statement, params)
                except psycopg.Error as exc:
                    error = f"{exc.sqlstate or 'error'}: {str(exc).splitlines()[0]}"
                finished = time.monotonic()
                op = Operation(
                    kind, statement.split()[0], pid, started, finished, error
                )
                with self._lock:
                    self.operations.append(op)
                if conn.closed or conn.broken:
                    conn = self._connect()
                self._stop.wait(self.shape.pause_s)
        finally:
            conn.close()

    def _writer(self, index: int) -> None:
        def choose(rng: random.Random) -> tuple[OpKind, str, tuple[Any, ...]]:
            n = rng.randint(1, self.shape.users)
            if self._events_ready.is_set() and rng.random() < 0.5:
                octet = rng.randint(1, 254)
                return OpKind.WRITE, _INSERT_LOGIN.format(octet=octet), (user_id(n),)
            name = f"First{rng.randint(0, 999)}"
            return OpKind.WRITE, _UPDATE_USER, (name, user_id(n))

        self._run_client(index, choose)

    def _reader(self, index: int) -> None:
        def choose(rng: random.Random) -> tuple[OpKind, str, tuple[Any, ...]]:
            n = rng.randint(1, self.shape.users)
            return OpKind.READ, _SELECT_USER, (user_email(n),)

        self._run_client(index, choose)

    def _monitor(self, _index: int) -> None:
        conn = self.connector(f"bench-monitor-{self.application_name}"[:63])
        try:
            while not self._stop.is_set():
                rows = conn.execute(_LOCK_WAITERS, (self.application_name,)).fetchall()
                seen = time.monotonic()
                with self._lock:
                    self.locks.samples += 1
                    for (pid,) in rows:
                        self.locks.by_pid.setdefault(pid, []).append(seen)
                self._stop.wait(self.shape.sample_interval_s)
        finally:
            conn.close()

    def snapshot(self) -> tuple[list[Operation], LockSamples]:
        with self._lock:
            return list(self.operations), self.locks
