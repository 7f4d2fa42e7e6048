"""The fault figures command runs every scenario and reports honest counts."""

from __future__ import annotations

import uuid

import pytest

from benchmarks.faults.cli import main
from benchmarks.faults.scenarios import SCENARIOS

pytestmark = pytest.mark.slow  # a run of the fault benchmark


def test_one_repetition_of_every_scenario_passes_and_checks_rows(
    capsys: pytest.CaptureFixture[str],
) -> None:
    prefix = f"mk_faults_t{uuid.uuid4().hex[:8]}"
    assert main(["--repetitions", "1", "--seed", "7", "--db-prefix", prefix]) == 0
    out = capsys.readouterr().out
    for title in SCENARIOS:
        line = next(line for line in out.splitlines() if line.startswith(title))
        repetitions, failures, rows = line[len(title) :].split()
        assert (repetitions, failures) == ("1", "0"), out
        assert int(rows.replace(",", "")) > 0, out
    assert "FAILED" not in out
