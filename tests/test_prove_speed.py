"""The prove_speed benchmark runs end to end (tiny generated histories).

No timing is asserted (a shared 2-core machine makes that flaky): only that both
harnesses ran on the three histories, said what they should (both pass this
project's and the passing generated history; on the failing one prove fails
exactly the leaky round trips and pytest-alembic, which cannot see them,
passes), and that their times and the load average were printed.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from migrationkit.testing.server import TestServer
from tests.helpers import REPO, run_module

pytestmark = pytest.mark.slow  # servers, clusters or benchmarks of its own


def test_the_benchmark_times_both_harnesses(server: TestServer, tmp_path: Path) -> None:
    result = run_module(
        "benchmarks.prove_speed",
        "--revisions",
        "4",
        "--leaky-every",
        "2",
        cwd=REPO,
        database_url=server.admin.url.render_as_string(hide_password=False),
        pgdata=tmp_path / "unused-pgdata",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    rows = {
        line.split()[0]: (line, lines[number + 1])
        for number, line in enumerate(lines)
        if re.match(r"^(this|generated|failing)\s", line)
    }
    assert set(rows) == {"this", "generated", "failing"}, result.stdout
    for line, details in rows.values():
        assert len(re.findall(r"\d+\.\d\d s", line)) == 2, line
        assert re.search(r"\s\d+\.\d \d+\.\d \d+\.\d$", line), line  # load
        assert "4 tests passed, 0 failed" in details, details
    assert "failed" not in rows["this"][1].replace(" 0 failed", "")
    assert "failed" not in rows["generated"][1].replace(" 0 failed", "")
    assert "checks, 2 failed" in rows["failing"][1]
    assert "UNEXPECTED" not in result.stdout
    assert "load average" in lines[0]
