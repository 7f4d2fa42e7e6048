"""The benchmark, end to end on a real server with a tiny table, plus its pieces.

No timing thresholds are asserted (a shared 2-core machine makes them flaky);
what is asserted is that every revision of both histories was applied and
measured, that the outputs exist, and that both histories end in one schema.
"""

from __future__ import annotations

import csv
import gzip
import importlib.util
import json
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import psycopg
import pytest
import sqlalchemy as sa
from alembic.config import Config
from alembic.script import ScriptDirectory

from benchmarks.zero_downtime.history import (
    RevisionInfo,
    list_revisions,
    pair_revisions,
)
from benchmarks.zero_downtime.metrics import percentile, window_stats
from benchmarks.zero_downtime.schema import schema_fingerprint
from benchmarks.zero_downtime.workload import LockSamples, Operation, OpKind
from migrationkit.errors import MigrationKitError
from migrationkit.testing.server import TestServer

REPO = Path(__file__).resolve().parent.parent
NAIVE = REPO / "benchmarks" / "naive" / "versions"


def run_bench(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "benchmarks.zero_downtime", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def revisions(versions: Path | None = None) -> list[RevisionInfo]:
    return list_revisions(ini=REPO / "alembic.ini", versions=versions)


def compared_revisions() -> list[str]:
    """The project's revisions that have a naive twin: what the benchmark compares."""
    return [
        r.revision
        for r in pair_revisions(revisions(), revisions(NAIVE), naive_dir=NAIVE).safe
    ]


def psycopg_connect(server: TestServer, database: str) -> psycopg.Connection[Any]:
    target = server.admin.with_database(database)
    _, kwargs = sa.create_engine(target.url).dialect.create_connect_args(target.url)
    kwargs.pop("context", None)
    if target.password:
        kwargs["password"] = target.password.reveal()
    return psycopg.connect(**kwargs, autocommit=True)


@pytest.fixture
def prefix(server: TestServer) -> Iterator[str]:
    """A scratch prefix of this test's own; its databases are dropped afterwards."""
    name = f"bench_t{uuid.uuid4().hex[:10]}"
    yield name
    admin = server.engine().execution_options(isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        for history in ("safe", "naive"):
            conn.execute(
                sa.text(f'DROP DATABASE IF EXISTS "{name}_{history}" WITH (FORCE)')
            )
    admin.dispose()


@pytest.mark.slow
def test_benchmark_end_to_end(server: TestServer, prefix: str, tmp_path: Path) -> None:
    out = tmp_path / "results"
    url = server.admin.secret_url().reveal()
    result = run_bench(
        "--rows", "2000", "--events", "1000", "--settle", "0.1",
        "--writers", "1", "--readers", "1", "--safe-x", "backfill_batch_size=500",
        "--database-url", url, "--db-prefix", prefix, "--out", str(out), "--keep",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]

    data = json.loads((out / "results.json").read_text())
    expected = compared_revisions()
    assert expected, "no project revision has a naive twin"
    for history in ("safe", "naive"):
        revisions = data["histories"][history]["revisions"]
        assert [r["revision"] for r in revisions] == expected
        for rev in revisions:
            assert isinstance(rev["ddl_seconds"], float)
            assert rev["ddl_seconds"] >= 0
            for kind in ("writes", "reads"):
                for figure in ("max_ms", "p99_ms"):
                    assert isinstance(rev[kind][figure], float)
                assert isinstance(rev[kind]["count"], int)
            assert isinstance(rev["lock_stall_ms"], float)
            slowest = max(rev["writes"]["max_ms"], rev["reads"]["max_ms"])
            assert 0.0 <= rev["lock_stall_ms"] <= slowest
            for count in (
                "operations", "slow_ops", "lock_waited_ops", "errors", "timeouts"
            ):  # fmt: skip
                assert isinstance(rev[count], int)
        # The workload really ran while the later revisions were applied.
        assert sum(r["operations"] for r in revisions) > 0
    assert [c["revision"] for c in data["comparison"]] == expected
    assert data["backfill"]["revision"] == "003"
    assert isinstance(data["backfill"]["ratio"], float)
    assert data["machine"]["cpus"] >= 1
    assert data["machine"]["postgresql"]
    assert data["settings"]["rows"] == 2000

    for history in ("safe", "naive"):
        with gzip.open(out / f"operations-{history}.csv.gz", "rt") as stream:
            rows = list(csv.DictReader(stream))
        assert rows
        assert {r["kind"] for r in rows} <= {"write", "read"}
        assert all(float(r["latency_ms"]) >= 0 for r in rows)
        assert {r["revision"] for r in rows} - {""} <= set(expected)

    chart = out / "chart.png"
    assert chart.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "backfill ratio" in result.stdout
    for rev in expected:
        assert f"\n{rev} " in result.stdout

    # Both histories end in the same schema, which is also what the models say.
    assert data["schema"] == {
        "identical": True,
        "differences": [],
        "safe_matches_models": True,
        "naive_matches_models": True,
    }
    # ...checked here again straight from the catalogs of the kept databases.
    with (
        psycopg_connect(server, f"{prefix}_safe") as safe,
        psycopg_connect(server, f"{prefix}_naive") as naive,
    ):
        assert schema_fingerprint(safe) == schema_fingerprint(naive)
        counts = [
            conn.execute(
                "SELECT (SELECT count(*) FROM users),"
                " (SELECT count(*) FROM users WHERE username IS NULL),"
                " (SELECT count(DISTINCT username) FROM users),"
                " (SELECT count(*) FROM login_events WHERE ip_address IS NULL),"
                " (SELECT version_num FROM alembic_version)"
            ).fetchone()
            for conn in (safe, naive)
        ]
    assert counts[0] is not None
    users, null_names, distinct_names, _, version = counts[0]
    assert (users, null_names, distinct_names, version) == (2000, 0, 2000, expected[-1])
    assert counts[1] is not None
    assert counts[1][:3] == counts[0][:3]
    assert counts[1][4] == expected[-1]


def test_unreachable_server_is_a_clear_error(tmp_path: Path) -> None:
    result = run_bench(
        "--database-url", "postgresql://someone:s3cretpw@127.0.0.1:1/nowhere",
        "--rows", "100", "--db-prefix", "bench_unreachable", "--out", str(tmp_path),
    )  # fmt: skip
    assert result.returncode == 1
    assert result.stderr.startswith("FAILED: ")
    assert "127.0.0.1:1" in result.stderr
    assert "s3cretpw" not in result.stderr + result.stdout
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "results.json").exists()


def test_bad_prefix_is_refused_before_touching_a_server(tmp_path: Path) -> None:
    result = run_bench("--db-prefix", "Bench-Prod; DROP", "--out", str(tmp_path))
    assert result.returncode == 1
    assert "--db-prefix" in result.stderr
    assert "Traceback" not in result.stderr


def test_help_documents_every_flag() -> None:
    result = run_bench("--help")
    assert result.returncode == 0
    for flag in (
        "--rows", "--events", "--writers", "--readers", "--pause-ms",
        "--client-timeout", "--slow-ms", "--sample-ms", "--settle", "--chunk-rows",
        "--seed", "--db-prefix", "--keep", "--database-url", "--config",
        "--naive-versions", "--backfill-revision", "--out", "--debug",
    ):  # fmt: skip
        assert flag in result.stdout


def load_revision(path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"rev_{uuid.uuid4().hex}", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_naive_revision_twins_a_project_revision() -> None:
    pairing = pair_revisions(revisions(), revisions(NAIVE), naive_dir=NAIVE)
    assert [r.revision for r in pairing.naive] == [r.revision for r in pairing.safe]
    project_only = {r.revision for r in revisions()} - set(compared_revisions())
    assert len(pairing.skipped) == len(project_only)


def test_revisions_added_later_are_skipped_and_named() -> None:
    project = [RevisionInfo("a", "one"), RevisionInfo("b", "two")]
    added = [*project, RevisionInfo("c", "added by a user")]
    pairing = pair_revisions(added, project, naive_dir=NAIVE)
    assert [r.revision for r in pairing.safe] == ["a", "b"]
    assert pairing.skipped == ["c (added by a user): no naive twin; not applied"]

    inserted = [project[0], RevisionInfo("x", "between"), project[1]]
    pairing = pair_revisions(inserted, project, naive_dir=NAIVE)
    reason = "no naive twin; applied within the step to b, whose figures include it"
    assert pairing.skipped == [f"x (between): {reason}"]
    with pytest.raises(MigrationKitError, match="does not have"):
        pair_revisions(
            project, [*project, RevisionInfo("z", "naive only")], naive_dir=NAIVE
        )
    with pytest.raises(MigrationKitError, match="not in the project's order"):
        pair_revisions(project, list(reversed(project)), naive_dir=NAIVE)


def test_naive_backfill_computes_the_same_usernames() -> None:
    """The backfill ratio compares batching alone only if the expression is shared."""
    config = Config(str(REPO / "alembic.ini"))
    real = load_revision(
        Path(ScriptDirectory.from_config(config).get_revision("003").path)
    )
    config.set_main_option("version_locations", str(NAIVE))
    naive = load_revision(
        Path(ScriptDirectory.from_config(config).get_revision("003").path)
    )
    assert naive.USERNAME_FROM_EMAIL == real.USERNAME_FROM_EMAIL
    assert naive.LOCAL_PART == real.LOCAL_PART
    assert naive.DUPLICATES == real.DUPLICATES


def test_percentile_is_an_observed_value() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 99) == 99.0
    assert percentile(values, 100) == 100.0
    assert percentile([5.0], 99) == 5.0
    assert percentile([], 99) == 0.0


def test_window_stats_count_overlapping_operations_and_lock_waits() -> None:
    ops = [
        Operation(OpKind.WRITE, "UPDATE", 1, 0.0, 0.5),  # before the window
        Operation(OpKind.WRITE, "UPDATE", 1, 0.9, 3.0),  # queued behind the DDL
        Operation(OpKind.READ, "SELECT", 2, 1.5, 1.501),
        Operation(OpKind.WRITE, "INSERT", 3, 2.0, 2.01, error="57014: timeout"),
        Operation(OpKind.READ, "SELECT", 2, 4.0, 4.1),  # after it
    ]
    locks = LockSamples(by_pid={1: [0.2, 1.0, 2.5], 3: [5.0]}, samples=10)
    stats = window_stats(ops, locks=locks, start=1.0, end=2.5, slow_ms=50.0)
    assert stats.timeouts == 1
    assert stats.operations == 3
    assert stats.writes.count == 2
    assert stats.writes.max_ms == pytest.approx(2100.0)
    assert stats.reads.count == 1
    assert stats.slow_ops == 1
    assert stats.lock_waited_ops == 1
    assert stats.lock_stall_ms == pytest.approx(2100.0)  # the queued write
    assert stats.errors == 1
