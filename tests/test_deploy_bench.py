"""The deploy benchmark end to end at a tiny size, on the test server.

It starts real uvicorn releases, a fixed-rate load and the real migrations, so
it takes half a minute or more: marked slow.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from benchmarks.zero_downtime.history import list_revisions
from migrationkit.database import DatabaseTarget
from tests.helpers import REPO

pytestmark = pytest.mark.slow

STEPS = 4


def test_the_deploy_benchmark_reports_every_phase_and_finds_every_write(
    database: DatabaseTarget, tmp_path: Path
) -> None:
    figures, chart = tmp_path / "deploy.json", tmp_path / "deploy.png"
    prefix = f"dep_{uuid.uuid4().hex[:8]}"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "benchmarks.deploy",
            "--rows",
            "500",
            "--speed-rows",
            "3000",
            "--rate",
            "20",
            "--settle",
            "1",
            "--workers",
            "1",
            "--steps",
            str(STEPS),
            "--db-prefix",
            prefix,
            "--database-url",
            database.secret_url().reveal(),
            "--json",
            str(figures),
            "--chart",
            str(chart),
        ],
        cwd=REPO,
        env={k: v for k, v in os.environ.items() if not k.startswith("DATABASE_URL")},
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Backfill speed at 3,000 rows" in done.stdout
    assert "safe history (latency ms)" in done.stdout
    assert "naive history (latency ms)" in done.stdout
    assert chart.stat().st_size > 10_000
    document = json.loads(figures.read_text(encoding="utf-8"))

    deployed = [
        r.revision for r in list_revisions(ini=REPO / "alembic.ini", versions=None)
    ]
    expected_phases = [
        "before (old)",
        *(f"upgrade {rev}" for rev in deployed[-STEPS:-1]),
        "rollout (old+new)",
        f"upgrade {deployed[-1]}",
        "after (new)",
    ]
    for history in ("safe", "naive"):
        result = document["histories"][history]
        assert [p["name"] for p in result["phases"]] == expected_phases
        for phase in result["phases"]:
            assert phase["requests"] > 0, phase
            assert 0 < phase["p50_ms"] <= phase["p99_ms"] <= phase["max_ms"], phase
        assert result["overall"]["requests"] == sum(
            p["requests"] for p in result["phases"]
        )
        written, found = (
            result["rows_written_during_deploy"],
            result["rows_found_afterwards"],
        )
        assert written["users"] > 0
        assert written["login_events"] > 0
        assert found == written  # no write the service confirmed was lost
    # The old release binds ip_address without a cast, so the switch to INET does
    # not refuse its sign-ins (docs/rolling-deploy.md): the project's history
    # serves every request of the rolling deploy. (The naive control's failures,
    # if any, are its table rewrite's lock waits: timing on a shared machine.)
    assert document["histories"]["safe"]["failures_by_kind"] == {}

    speed = document["speed"]
    assert speed["rows"] == 3000
    for strategy in ("ctid", "keyset"):
        assert speed[strategy]["rows"] == 3000 - 3000 // 997
        assert speed[strategy]["ratio_to_update"] > 0
