"""This project's own history lints clean; the naive history is caught.

Which naive revisions must be caught is read from the benchmark's published
results (docs/benchmark-10m.json): every revision during which a concurrent write
waited on a lock. Offline: no database is involved.
"""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path

import pytest

from migrationkit import command
from migrationkit.lint import LintReport, Severity, all_rules
from migrationkit.settings import Settings
from tests.helpers import REPO

SETTINGS = Settings()
BENCHMARK = REPO / "docs" / "benchmark-10m.json"
NAIVE = REPO / "benchmarks" / "naive" / "versions"


def lint_history(versions: Path | None = None) -> LintReport:
    config = command.load_config(REPO / "alembic.ini")
    if versions is not None:
        config.set_main_option("version_locations", str(versions))
    return command.lint(config, settings=SETTINGS)


def test_project_history_lints_clean() -> None:
    report = lint_history()
    assert report.revisions, "no revision was linted"
    problems = [f for f in report.findings if f.counts]
    assert not problems, "\n".join(f"{f.path}:{f.line} {f.code}" for f in problems)
    assert all(result.mode == "offline" for result in report.revisions)
    configured = tomllib.loads((REPO / "pyproject.toml").read_text())
    assert report.pg_version == configured["tool"]["migrationkit"]["lint"]["pg_version"]


def test_every_allowed_finding_of_the_history_gives_its_reason() -> None:
    allowed = [f for f in lint_history().findings if not f.counts]
    assert allowed, "the history's suppressions are expected to be exercised"
    for finding in allowed:
        assert finding.suppressed is not None, finding
        assert len(finding.suppressed) > 10, finding


def naive_revisions_that_blocked_writes() -> list[str]:
    results = json.loads(BENCHMARK.read_text())
    return [
        revision["revision"]
        for revision in results["histories"]["naive"]["revisions"]
        if revision["lock_waited_ops"] > 0
    ]


@pytest.fixture(scope="module")
def naive_report() -> LintReport:
    return lint_history(NAIVE)


def test_the_benchmark_names_blocking_naive_revisions() -> None:
    assert naive_revisions_that_blocked_writes()


@pytest.mark.parametrize("revision", naive_revisions_that_blocked_writes())
def test_naive_revision_that_blocked_writes_is_caught(
    naive_report: LintReport, revision: str
) -> None:
    errors = [
        f
        for f in naive_report.findings
        if f.revision == revision and f.counts and f.severity is Severity.ERROR
    ]
    assert errors, f"naive revision {revision} blocked writes but was not flagged"
    for finding in errors:
        assert finding.path.parts[:3] == ("benchmarks", "naive", "versions")
        assert finding.line is not None


def test_naive_history_fails_the_lint(naive_report: LintReport) -> None:
    assert not naive_report.ok


def test_readme_text_documents_every_rule() -> None:
    text = (REPO / "docs" / "lint.md").read_text()
    for rule in all_rules():
        assert f"`{rule.code}`" in text, f"{rule.code} is not documented"


def test_docs_count_of_allowed_findings_matches_the_output() -> None:
    text = " ".join((REPO / "docs" / "lint.md").read_text().split())
    match = re.search(
        r"lints clean; (\d+) findings are allowed by written reasons", text
    )
    assert match, "docs/lint.md no longer states how many findings are allowed"
    allowed = [f for f in lint_history().findings if not f.counts]
    assert int(match.group(1)) == len(allowed)


def test_docs_naive_table_matches_the_output(naive_report: LintReport) -> None:
    """Each row of the naive table names exactly the errors the lint reports."""
    text = (REPO / "docs" / "lint.md").read_text()
    rows = re.findall(r"^\| (\d{3}) [^|]*\| (.*) \|$", text, flags=re.MULTILINE)
    assert rows, "docs/lint.md lost its table of the naive history"
    for number, cell in rows:
        documented = set(re.findall(r"`([\w-]+)`", cell.split("(")[0]))
        reported = {
            f.code
            for f in naive_report.findings
            if f.path.name.startswith(number)
            and f.counts
            and f.severity is Severity.ERROR
        }
        assert documented == reported, f"naive {number}: docs {documented}"
