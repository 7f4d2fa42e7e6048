"""A bounded, fixed-rate load generator on loopback: requests are *scheduled*.

A closed loop (``benchmarks.http_load``: each client waits for its answer
before the next request) sends less when the service slows down, and so hides
the stall a migration causes. Here a pacer schedules one request every
``1/rate`` seconds whatever happens; a fixed pool of sender threads takes them
in order, and each latency is measured from the *scheduled* time, so time spent
queued behind a stalled service counts. The queue is bounded: past
``max_backlog`` waiting requests the rest are counted as failures ("not sent"),
never piled up without limit.

The mix is what a users service sees: reads by id, list pages, sign-ups,
profile updates, sign-ins that insert a login event, and health checks, spread
over the live instances in turn. Ids of the users and login events that the
service said it wrote are kept, to be looked for after the deploy.
"""

from __future__ import annotations

import http.client
import json
import queue
import random
import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field

MIX: dict[str, int] = {
    "read": 45,
    "list": 10,
    "create": 10,
    "update": 10,
    "login": 20,
    "health": 5,
}
"""Weights of each kind of request."""

JSON = {"Content-Type": "application/json"}
STALE = (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError)
"""How a request on a connection the server closed while idle fails."""

SENDERS = 24
"""Sender threads: enough for the rate while the service stalls a little."""


@dataclass(frozen=True, slots=True)
class Request:
    kind: str
    port: int
    scheduled: float
    """``time.monotonic()`` at which the pacer scheduled it."""


@dataclass(frozen=True, slots=True)
class Answer:
    kind: str
    port: int
    scheduled: float
    status: int
    """HTTP status; 0 when no answer came (connection error, timeout, not sent)."""
    seconds: float
    """From the scheduled time to the answer's last byte."""

    def describe(self) -> str:
        return f"{self.kind} {self.status or 'no answer'}"

    @property
    def failed(self) -> bool:
        return self.status == 0 or self.status >= 500


@dataclass(kw_only=True)
class Traffic:
    """Runs from ``start()`` to ``stop()``; ``ports`` can change while it runs."""

    rate: float
    user_ids: Sequence[str]
    max_backlog: int = 2_000
    ports: list[int] = field(default_factory=list)
    answers: list[Answer] = field(default_factory=list)
    created_users: list[str] = field(default_factory=list)
    created_logins: list[int] = field(default_factory=list)
    _queue: queue.Queue[Request | None] = field(default_factory=queue.Queue)
    _stop: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _threads: list[threading.Thread] = field(default_factory=list)

    def start(self) -> None:
        pacer = threading.Thread(target=self._pace, name="deploy-pacer", daemon=True)
        senders = [
            threading.Thread(target=self._send, name=f"deploy-send-{n}", daemon=True)
            for n in range(SENDERS)
        ]
        self._threads = [pacer, *senders]
        for thread in self._threads:
            thread.start()

    def set_ports(self, ports: Sequence[int]) -> None:
        with self._lock:
            self.ports = list(ports)

    def stop(self) -> None:
        if self._stop.is_set():
            return
        self._stop.set()
        for _ in range(SENDERS):
            self._queue.put(None)
        for thread in self._threads:
            thread.join(timeout=60)

    def _pace(self) -> None:
        chooser = random.Random(1)  # noqa: S311 -- a load mix, not a secret
        kinds, weights = list(MIX), list(MIX.values())
        interval = 1.0 / self.rate
        due = time.monotonic()
        turn = 0
        while not self._stop.is_set():
            now = time.monotonic()
            if now < due:
                time.sleep(due - now)
                continue
            with self._lock:
                ports = list(self.ports)
            if ports:
                turn += 1
                request = Request(
                    kind=chooser.choices(kinds, weights)[0],
                    port=ports[turn % len(ports)],
                    scheduled=due,
                )
                if self._queue.qsize() >= self.max_backlog:
                    self._record(Answer(request.kind, request.port, due, 0, 0.0))
                else:
                    self._queue.put(request)
            due += interval

    def _send(self) -> None:
        connections: dict[int, http.client.HTTPConnection] = {}
        chooser = random.Random()  # noqa: S311
        while (request := self._queue.get()) is not None:
            connection = connections.get(request.port)
            if connection is None:
                connection = http.client.HTTPConnection(
                    "127.0.0.1", request.port, timeout=30
                )
                connections[request.port] = connection
            method, path, body = self._shape(request.kind, chooser)
            status, payload = 0, b""
            # A kept-alive connection the server closed while idle fails at once;
            # like any HTTP client, try once more on a fresh connection.
            for attempt in range(2):
                try:
                    connection.request(method, path, body=body, headers=JSON)
                    response = connection.getresponse()
                    payload = response.read()
                    status = response.status
                    break
                except (OSError, http.client.HTTPException) as exc:
                    connection.close()
                    stale = isinstance(exc, STALE) and attempt == 0
                    if not stale:
                        break
            seconds = time.monotonic() - request.scheduled
            self._record(
                Answer(request.kind, request.port, request.scheduled, status, seconds)
            )
            if status == 0:
                connections.pop(request.port, None)
            if status == 201:
                self._remember(request.kind, payload)
        for connection in connections.values():
            connection.close()

    def _shape(
        self, kind: str, chooser: random.Random
    ) -> tuple[str, str, bytes | None]:
        user = chooser.choice(self.user_ids)
        if kind == "read":
            return "GET", f"/users/{user}", None
        if kind == "list":
            return "GET", "/users?limit=20", None
        if kind == "health":
            return "GET", "/health", None
        if kind == "create":
            token = uuid.uuid4().hex
            body = {"email": f"deploy-{token}@example.com", "username": f"d_{token}"}
            return "POST", "/users", json.dumps(body).encode()
        if kind == "update":
            body_update = {"first_name": f"name-{chooser.randrange(1_000_000)}"}
            return "PATCH", f"/users/{user}", json.dumps(body_update).encode()
        address = f"192.168.{chooser.randrange(256)}.{chooser.randrange(256)}"
        login = json.dumps({"ip_address": address}).encode()
        return "POST", f"/users/{user}/logins", login

    def _record(self, answer: Answer) -> None:
        with self._lock:
            self.answers.append(answer)

    def _remember(self, kind: str, payload: bytes) -> None:
        try:
            written = json.loads(payload)["id"]
        except (ValueError, KeyError, TypeError):
            return
        with self._lock:
            if kind == "create":
                self.created_users.append(str(written))
            elif kind == "login":
                self.created_logins.append(int(written))
