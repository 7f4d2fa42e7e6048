"""The prove_speed benchmark runs end to end (tiny generated history).

No timing is asserted (a shared 2-core machine makes that flaky): only that both
harnesses ran, passed on both histories, and that their times were printed.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from migrationkit.testing.server import TestServer
from tests.helpers import REPO


def test_the_benchmark_times_both_harnesses(server: TestServer, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MIGRATIONKIT_")}
    env["DATABASE_URL"] = server.admin.url.render_as_string(hide_password=False)
    env["MIGRATIONKIT_PGDATA"] = str(tmp_path / "unused-pgdata")
    result = subprocess.run(
        [sys.executable, "-m", "benchmarks.prove_speed", "--revisions", "3"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
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
