"""The prove_speed benchmark runs end to end (tiny generated history).

No timing is asserted (a shared 2-core machine makes that flaky): only that both
harnesses ran, passed on both histories, and that their times were printed.
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
        "3",
        cwd=REPO,
        database_url=server.admin.url.render_as_string(hide_password=False),
        pgdata=tmp_path / "unused-pgdata",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    rows = {
        line.split()[0]: line
        for line in result.stdout.splitlines()
        if re.match(r"^(this|generated)\s", line)
    }
    assert set(rows) == {"this", "generated"}, result.stdout
    for line in rows.values():
        assert len(re.findall(r"\d+\.\d\d s", line)) == 2, line
    assert "4 tests passed, 0 failed" in result.stdout
    assert "failed" not in result.stdout.replace("0 failed", "")
