"""``python -m benchmarks.backfill_speed`` at a tiny size, on the test's server.

The figures themselves are the benchmark's business (and the machine's); here:
every run is reported with its load average and the application's lock waits,
the ctid run's sweep is timed, the JSON holds every run, the scratch database is
gone afterwards, and a bad prefix is one ``FAILED:`` line.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa

from benchmarks.backfill_speed.cli import main
from migrationkit.database import DatabaseTarget

pytestmark = pytest.mark.slow  # a run of the backfill benchmark

ROWS = 3_000
GOOD_ROWS = ROWS - ROWS // 997  # 'not-an-ip' rows are left alone by all three


def test_the_speed_benchmark_reports_every_run_and_cleans_up(
    database: DatabaseTarget,
    engine: sa.Engine,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    figures = tmp_path / "speed.json"
    prefix = f"bfs_{uuid.uuid4().hex[:8]}"
    url = database.secret_url().reveal()
    code = main(
        [
            *("--rows", str(ROWS), "--app-rate", "50", "--repeat", "2"),
            *("--db-prefix", prefix, "--database-url", url, "--json", str(figures)),
        ]
    )
    out, err = capsys.readouterr()
    assert code == 0, err
    assert out.count(f"Backfill speed at {ROWS:,} rows") == 2
    assert "load average" in out
    assert "longest lock wait" in out
    assert "Median of 2 runs: ctid ranges" in out
    if database.password is not None:
        assert database.password.reveal() not in out + err
    document = json.loads(figures.read_text(encoding="utf-8"))
    assert document["machine"]
    assert len(document["runs"]) == 2
    for run in document["runs"]:
        assert run["rows"] == ROWS
        assert run["update_seconds"] > 0
        assert run["load_average_before"]
        assert run["load_average_after"]
        assert run["update_application"]["requests"] >= 1
        for strategy in ("ctid", "keyset"):
            assert run[strategy]["rows"] == GOOD_ROWS
            assert run[strategy]["ratio_to_update"] > 0
            assert run[strategy]["application"]["requests"] >= 1
        assert 0 < run["ctid"]["sweep_seconds"] < run["ctid"]["seconds"]
    with engine.connect() as conn:
        left = conn.execute(
            sa.text("SELECT count(*) FROM pg_database WHERE datname LIKE :p"),
            {"p": f"{prefix}%"},
        ).scalar_one()
    assert left == 0


def test_a_bad_prefix_is_one_failed_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--db-prefix", "No Such-Prefix", "--rows", "10"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("FAILED: --db-prefix 'No Such-Prefix'")
    assert len(err.strip().splitlines()) == 1
