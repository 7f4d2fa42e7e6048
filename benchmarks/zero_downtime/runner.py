"""Run one history under load: fresh database, data, workload, revision by revision.

The order of events, identical for both histories:

1. recreate the scratch database; apply the first revision (it creates ``users``);
2. load the users and VACUUM ANALYZE (not timed); start the workload;
3. for each later revision: let the workload settle, apply the revision, record
   its window; right after the revision that creates ``login_events``, load that
   table too (not timed) and let writers start inserting into it;
4. stop the workload; ask ``alembic check`` whether the database matches the
   models; take a catalog fingerprint; drop the database unless kept.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg

from benchmarks.zero_downtime.history import HistorySpec, RevisionInfo
from benchmarks.zero_downtime.load import load_login_events, load_users, table_exists
from benchmarks.zero_downtime.metrics import WindowStats, outside_windows, window_stats
from benchmarks.zero_downtime.schema import schema_fingerprint
from benchmarks.zero_downtime.scratch import ScratchServer
from benchmarks.zero_downtime.worker import MigrationWorker, StepTiming
from benchmarks.zero_downtime.workload import (
    LockSamples,
    Operation,
    Workload,
    WorkloadShape,
)
from migrationkit.database import mask_secrets
from migrationkit.errors import MigrationKitError


@dataclass(frozen=True, kw_only=True)
class BenchOptions:
    """Everything the command line decides."""

    rows: int = 200_000
    events: int | None = None
    """login_events rows; default: half the users."""
    shape: WorkloadShape = field(default_factory=lambda: WorkloadShape(users=200_000))
    slow_ms: float = 50.0
    settle_s: float = 0.5
    chunk_rows: int = 100_000
    db_prefix: str = "bench"
    keep: bool = False
    ini: Path = Path("alembic.ini")
    naive_versions: Path = Path("benchmarks/naive/versions")
    out: Path = Path("bench-results")
    backfill_revision: str = "003"
    safe_x: tuple[str, ...] = ()
    """``-x`` arguments for env.py in the safe history."""

    @property
    def event_rows(self) -> int:
        return self.events if self.events is not None else self.rows // 2


@dataclass(frozen=True, kw_only=True)
class RevisionResult:
    revision: str
    title: str
    ddl_seconds: float
    during: WindowStats

    def as_json(self) -> dict[str, Any]:
        return {
            "revision": self.revision,
            "title": self.title,
            "ddl_seconds": self.ddl_seconds,
            **self.during.as_json(),
        }


@dataclass(frozen=True, kw_only=True)
class HistoryResult:
    name: str
    database: str
    revisions: list[RevisionResult]
    baseline: WindowStats
    load_seconds: float
    total_seconds: float
    models_check: str | None
    """None when ``alembic check`` found the database equal to the models."""
    fingerprint: dict[str, list[str]]
    operations: list[Operation] = field(default_factory=list, repr=False)
    """Every client operation, for the raw CSV."""
    locks: LockSamples = field(default_factory=LockSamples, repr=False)
    windows: list[tuple[str, float, float]] = field(default_factory=list)
    """(revision, start, end) on the ``time.monotonic`` clock."""
    origin: float = 0.0
    """When the history started, on the same clock."""

    def as_json(self) -> dict[str, Any]:
        return {
            "database": self.database,
            "total_seconds": self.total_seconds,
            "load_seconds": self.load_seconds,
            "matches_models": self.models_check is None,
            "models_check": self.models_check,
            "baseline": self.baseline.as_json(),
            "revisions": [r.as_json() for r in self.revisions],
        }


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


class HistoryRun:
    """One history, start to finish (see the module docstring for the steps)."""

    def __init__(
        self,
        *,
        spec: HistorySpec,
        revisions: list[RevisionInfo],
        server: ScratchServer,
        options: BenchOptions,
    ) -> None:
        self.spec = spec
        self.revisions = revisions
        self.server = server
        self.options = options
        self.database = f"{options.db_prefix}_{spec.name}"
        self.load_seconds = 0.0

    def run(self) -> HistoryResult:
        began = time.monotonic()
        target = self.server.recreate(self.database)
        say(f"{self.spec.name}: scratch database {target.masked}")
        workload = Workload(
            shape=self.options.shape,
            connector=lambda app: self.server.connect(
                self.database, application_name=app
            ),
            tag=self.database,
        )
        self.options.out.mkdir(parents=True, exist_ok=True)
        with (
            self._worker(target.secret_url().reveal()) as worker,
            self.server.connect(
                self.database, application_name="bench-loader"
            ) as loader,
        ):
            try:
                timings = self._apply_all(worker, loader, workload)
            except BaseException:
                workload.stop(raise_failures=False)
                raise
            workload.stop()
            models_check = worker.check()
            fingerprint = schema_fingerprint(loader)
        if not self.options.keep:
            self.server.drop(self.database)
        return self._result(
            timings=timings,
            workload=workload,
            models_check=models_check,
            fingerprint=fingerprint,
            began=began,
        )

    def _worker(self, url: str) -> MigrationWorker:
        project = self.options.ini.resolve().parent
        # The child needs the ordinary environment (PATH, HOME) plus the scratch
        # database; env.py reads DATABASE_URL from it like any other run. It runs
        # in the project folder, where `benchmarks` and `models` are importable.
        env = dict(os.environ)
        env.update(self.spec.env)
        env["DATABASE_URL"] = url
        env.pop("DATABASE_URL_DIRECT", None)  # it would win over the scratch URL
        versions = self.spec.versions.resolve() if self.spec.versions else None
        return MigrationWorker(
            project=project,
            ini=self.options.ini.resolve(),
            versions=versions,
            env=env,
            x_args=self.spec.x_args,
            log=(self.options.out / f"alembic-{self.spec.name}.log").resolve(),
        )

    def _apply_all(
        self,
        worker: MigrationWorker,
        loader: psycopg.Connection[tuple[Any, ...]],
        workload: Workload,
    ) -> list[StepTiming]:
        timings: list[StepTiming] = []
        users_loaded = events_loaded = False
        for info in self.revisions:
            if users_loaded:
                time.sleep(self.options.settle_s)
            try:
                timing = worker.upgrade(info.revision)
            except MigrationKitError as exc:
                raise MigrationKitError(
                    f"The {self.spec.name} history failed at revision "
                    f"{info.revision} ({info.title}): {mask_secrets(str(exc))}"
                ) from None
            timings.append(timing)
            say(
                f"{self.spec.name} {info.revision}: {info.title}: "
                f"{timing.seconds:.3f} s"
            )
            if not users_loaded and table_exists(loader, "users"):
                self._timed_load(
                    lambda: load_users(
                        loader,
                        rows=self.options.rows,
                        chunk=self.options.chunk_rows,
                        label=self.spec.name,
                    )
                )
                users_loaded = True
                workload.start()
            if not events_loaded and table_exists(loader, "login_events"):
                self._timed_load(
                    lambda: load_login_events(
                        loader,
                        rows=self.options.event_rows,
                        users=self.options.rows,
                        chunk=self.options.chunk_rows,
                        label=self.spec.name,
                    )
                )
                events_loaded = True
                workload.enable_login_events()
        return timings

    def _timed_load(self, load: Callable[[], None]) -> None:
        began = time.monotonic()
        load()
        self.load_seconds += time.monotonic() - began

    def _result(
        self,
        *,
        timings: list[StepTiming],
        workload: Workload,
        models_check: str | None,
        fingerprint: dict[str, list[str]],
        began: float,
    ) -> HistoryResult:
        ops, locks = workload.snapshot()
        slow = self.options.slow_ms
        revisions = [
            RevisionResult(
                revision=info.revision,
                title=info.title,
                ddl_seconds=timing.seconds,
                during=window_stats(
                    ops,
                    locks=locks,
                    start=timing.started,
                    end=timing.finished,
                    slow_ms=slow,
                ),
            )
            for info, timing in zip(self.revisions, timings, strict=True)
        ]
        quiet = outside_windows(ops, [(t.started, t.finished) for t in timings])
        baseline = window_stats(
            quiet, locks=locks, start=float("-inf"), end=float("inf"), slow_ms=slow
        )
        return HistoryResult(
            name=self.spec.name,
            database=self.database,
            revisions=revisions,
            baseline=baseline,
            load_seconds=self.load_seconds,
            total_seconds=time.monotonic() - began,
            models_check=None if models_check is None else mask_secrets(models_check),
            fingerprint=fingerprint,
            operations=ops,
            locks=locks,
            windows=[
                (info.revision, t.started, t.finished)
                for info, t in zip(self.revisions, timings, strict=True)
            ],
            origin=began,
        )
