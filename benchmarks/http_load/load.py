"""The clients: threads with keep-alive HTTP connections, a fixed mix of requests.

Each client owns one ``http.client`` connection to the loopback address and
sends one request at a time (a closed loop, as a user's browser or another
service would), picking the kind of request by weight. Every answer is timed
from the request's first byte sent to the body's last byte read.
"""

from __future__ import annotations

import http.client
import json
import random
import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum


class Kind(StrEnum):
    READ = "read by id"
    LIST = "list page"
    CREATE = "create"
    UPDATE = "update"


MIX: dict[Kind, int] = {Kind.READ: 60, Kind.LIST: 20, Kind.CREATE: 15, Kind.UPDATE: 5}
"""Weights: mostly reads, as most applications are."""


@dataclass(frozen=True, slots=True)
class Sample:
    kind: Kind
    status: int
    """HTTP status, or 0 when the request failed without an answer."""
    started: float
    seconds: float

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


@dataclass(frozen=True, kw_only=True)
class LoadPlan:
    port: int
    clients: int
    duration: float
    max_requests: int
    user_ids: Sequence[str]


def run_load(plan: LoadPlan) -> list[Sample]:
    """Run every client until the duration or the request budget is spent."""
    deadline = time.monotonic() + plan.duration
    budget = threading.Semaphore(plan.max_requests)
    results: list[list[Sample]] = [[] for _ in range(plan.clients)]
    threads = [
        threading.Thread(
            target=_client,
            args=(plan, deadline, budget, results[n], random.Random(n)),  # noqa: S311
            name=f"http-load-{n}",
            daemon=True,
        )
        for n in range(plan.clients)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=plan.duration + 60)
    return [sample for samples in results for sample in samples]


def _client(
    plan: LoadPlan,
    deadline: float,
    budget: threading.Semaphore,
    samples: list[Sample],
    chooser: random.Random,
) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", plan.port, timeout=30)
    kinds, weights = list(MIX), list(MIX.values())
    try:
        while time.monotonic() < deadline and budget.acquire(blocking=False):
            kind = chooser.choices(kinds, weights)[0]
            method, path, body = _request(kind, plan.user_ids, chooser)
            started = time.perf_counter()
            try:
                connection.request(
                    method,
                    path,
                    body=body,
                    headers={"Content-Type": "application/json"},
                )
                response = connection.getresponse()
                response.read()
                status = response.status
            except (OSError, http.client.HTTPException):
                status = 0
                connection.close()  # reconnects on the next request
            samples.append(Sample(kind, status, started, time.perf_counter() - started))
    finally:
        connection.close()


def _request(
    kind: Kind, user_ids: Sequence[str], chooser: random.Random
) -> tuple[str, str, bytes | None]:
    if kind is Kind.READ:
        return "GET", f"/users/{chooser.choice(user_ids)}", None
    if kind is Kind.LIST:
        return "GET", "/users?limit=20", None
    if kind is Kind.CREATE:
        token = uuid.uuid4().hex
        body = {"email": f"load-{token}@example.com", "username": f"load_{token[:40]}"}
        return "POST", "/users", json.dumps(body).encode()
    first_name = f"name-{chooser.randrange(1_000_000)}"
    body_update = json.dumps({"first_name": first_name}).encode()
    return "PATCH", f"/users/{chooser.choice(user_ids)}", body_update
