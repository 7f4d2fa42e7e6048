"""The two harnesses, each timed in this process from its first query to its last.

Interpreter start-up and imports are left out of both: what is compared is the
work each does on the same history and the same server.

* **migrationkit prove**: ``Prover.run()``, every check (one head; each revision
  upgraded from its parent; up, down, up again compared as full catalog
  snapshots; the models built and compared with the head; each revision
  rendered with ``--sql``), then its scratch databases dropped.
* **pytest-alembic**: its four default tests (``test_single_head_revision``,
  ``test_upgrade``, ``test_model_definitions_match_ddl``,
  ``test_up_down_consistency``) run by ``pytest.main`` in this process, each on a
  fresh database of its own (the isolation its documentation recommends), from
  the first test's setup to the last test's teardown.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.config import Config

from migrationkit.prove import Prover
from migrationkit.prove.scratch import ScratchServer

_TESTS = '''\
"""pytest-alembic's four default tests, as its documentation shows importing them."""

from pytest_alembic.plugin.fixtures import alembic_runner
from pytest_alembic.tests import (
    test_model_definitions_match_ddl,
    test_single_head_revision,
    test_up_down_consistency,
    test_upgrade,
)
'''


@dataclass(frozen=True, kw_only=True)
class Timing:
    seconds: float
    ok: bool
    detail: str
    failed: tuple[str, ...] = ()
    """What failed: ``code revision`` per finding (prove), test names (pytest)."""


def time_migrationkit(
    ini: Path, scratch: ScratchServer, *, models: bool = True
) -> Timing:
    started = time.perf_counter()
    prover = Prover(Config(str(ini)), scratch=scratch)
    try:
        report = prover.run(models=models)
    finally:
        prover.close()
    seconds = time.perf_counter() - started
    return Timing(
        seconds=seconds,
        ok=report.ok,
        detail=f"{report.checks_run} checks"
        + ("" if report.ok else f", {len(report.findings)} failed"),
        failed=tuple(f"{f.code} {f.revision}" for f in report.findings),
    )


class _PytestAlembicFixtures:
    """The two fixtures a pytest-alembic user writes, plus a stopwatch."""

    def __init__(self, ini: Path, scratch: ScratchServer) -> None:
        self.ini = ini
        self.scratch = scratch
        self.started = 0.0
        self.finished = 0.0
        self.failed: list[str] = []
        self.passed = 0

    @pytest.fixture
    def alembic_config(self) -> Config:
        return Config(str(self.ini))

    @pytest.fixture
    def alembic_engine(self) -> Iterator[sa.Engine]:
        name = self.scratch.create(template=None)
        engine = self.scratch.engine(name)
        try:
            yield engine
        finally:
            engine.dispose()
            self.scratch.drop(name)

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtestloop(self) -> None:
        self.started = time.perf_counter()

    def pytest_sessionfinish(self) -> None:
        self.finished = time.perf_counter()

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.when == "call":
            self.passed += report.passed
        if report.failed:
            self.failed.append(report.nodeid.rpartition("::")[2])


def time_pytest_alembic(ini: Path, scratch: ScratchServer, workdir: Path) -> Timing:
    tests = workdir / "test_pytest_alembic_defaults.py"
    tests.write_text(_TESTS)
    fixtures = _PytestAlembicFixtures(ini, scratch)
    code = pytest.main(
        [
            str(tests),
            "-q",
            "-p",
            "no:cacheprovider",
            "-p",
            "no:xdist",
            "-p",
            "no:pytest_alembic",
            "-p",
            "no:migrationkit",
            "-o",
            "addopts=",
            "--rootdir",
            str(workdir),
        ],
        plugins=[fixtures],
    )
    return Timing(
        seconds=fixtures.finished - fixtures.started,
        ok=code == 0 and not fixtures.failed,
        detail=f"{fixtures.passed} tests passed, {len(fixtures.failed)} failed",
        failed=tuple(fixtures.failed),
    )
