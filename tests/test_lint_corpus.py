"""The lint corpus: every bad example caught where it says, every good one clean.

Each example revision in tests/examples/lint/ marks the lines a finding must point
at with ``# expect: CODE``; the tests read those marks, so the corpus grows without
test changes. Linting is offline: no database is involved.
"""

from __future__ import annotations

import tokenize
from collections import defaultdict
from pathlib import Path

import pytest

from migrationkit import command
from migrationkit.lint import LintReport, Severity
from migrationkit.settings import Settings
from tests.helpers import LINT_EXAMPLES, lint_example_project

SETTINGS = Settings()
"""migrationkit's defaults (lock_timeout 2 s), whatever the environment says."""

FOLDERS = {"bad": "env.py", "plain_env": "env_plain.py", "good": "env.py"}


def expectations(path: Path) -> dict[int, set[str]]:
    """Line -> rule codes, from the ``# expect: CODE ...`` comments of ``path``.

    A trailing comment marks its own line; a comment alone on its line marks the
    next line of code.
    """
    expected: dict[int, set[str]] = defaultdict(set)
    waiting: set[str] = set()
    code_lines: set[int] = set()
    ignored = {tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT}
    with tokenize.open(path) as source:
        for token in tokenize.generate_tokens(source.readline):
            if token.type == tokenize.COMMENT and "# expect:" in token.string:
                codes = set(token.string.split("# expect:", 1)[1].split())
                if token.start[0] in code_lines:
                    expected[token.start[0]].update(codes)
                else:
                    waiting |= codes
            elif token.type not in ignored and token.type != tokenize.COMMENT:
                code_lines.add(token.start[0])
                if waiting:
                    expected[token.start[0]].update(waiting)
                    waiting = set()
    return dict(expected)


def lint_folder(tmp_path: Path, folder: str) -> LintReport:
    project = lint_example_project(
        tmp_path / folder, examples=folder, env=FOLDERS[folder]
    )
    return command.lint(command.load_config(project / "alembic.ini"), settings=SETTINGS)


def examples(folder: str) -> list[str]:
    return sorted(
        path.stem for path in (LINT_EXAMPLES / folder / "versions").glob("*.py")
    )


@pytest.fixture(scope="module")
def reports(tmp_path_factory: pytest.TempPathFactory) -> dict[str, LintReport]:
    """One lint run per folder of examples (each example is a revision of its own)."""
    base = tmp_path_factory.mktemp("lint-corpus")
    return {folder: lint_folder(base, folder) for folder in FOLDERS}


@pytest.mark.parametrize(
    ("folder", "name"),
    [(folder, name) for folder in ("bad", "plain_env") for name in examples(folder)],
)
def test_example_is_caught_where_marked(
    reports: dict[str, LintReport], folder: str, name: str
) -> None:
    report = reports[folder]
    (result,) = [r for r in report.revisions if r.revision == name]
    expected = expectations(LINT_EXAMPLES / folder / "versions" / f"{name}.py")
    found: dict[int, set[str]] = defaultdict(set)
    for finding in result.findings:
        if finding.counts and finding.line is not None:
            found[finding.line].add(finding.code)
    for line, codes in expected.items():
        missing = codes - found.get(line, set())
        assert not missing, f"{name}.py:{line} should be flagged {missing}: {found}"
    for finding in result.findings:
        if not finding.counts or finding.code in expected.get(finding.line or 0, set()):
            continue
        assert not finding.code.startswith("MK"), f"unexpected {finding}"
        assert finding.severity is not Severity.ERROR, f"unexpected {finding}"


def test_every_bad_example_fails_the_lint(reports: dict[str, LintReport]) -> None:
    for folder in ("bad", "plain_env"):
        failing = {
            f.revision
            for f in reports[folder].findings
            if f.counts and f.severity is Severity.ERROR
        }
        with_expectations = {
            name
            for name in examples(folder)
            if expectations(LINT_EXAMPLES / folder / "versions" / f"{name}.py")
        }
        assert with_expectations <= failing
    assert not reports["bad"].ok


@pytest.mark.parametrize("name", examples("good"))
def test_good_example_is_not_flagged(reports: dict[str, LintReport], name: str) -> None:
    (result,) = [r for r in reports["good"].revisions if r.revision == name]
    assert result.mode == "offline"
    assert result.statements > 0, "the example rendered no SQL: nothing was linted"
    flagged = [f for f in result.findings if f.counts]
    assert not flagged, "\n".join(f"{f.code}: {f.message}" for f in flagged)


def test_good_examples_pass(reports: dict[str, LintReport]) -> None:
    assert reports["good"].ok


def test_acknowledged_drop_keeps_its_reason(reports: dict[str, LintReport]) -> None:
    allowed = [f for f in reports["good"].findings if not f.counts]
    assert [(f.revision, f.code) for f in allowed] == [("acknowledged_drop", "MK104")]
    assert allowed[0].suppressed == "no release reads first_name since 2024"
    assert allowed[0].also == ("ban-drop-column",)


def test_findings_name_the_revision_file_and_call(
    reports: dict[str, LintReport],
) -> None:
    finding = next(
        f for f in reports["bad"].findings if f.revision == "mk101_update_whole_table"
    )
    assert finding.path == Path("migrations/versions/mk101_update_whole_table.py")
    assert finding.call == "execute"
    assert finding.statement == "UPDATE users SET is_active = true"
    assert finding.table == "users"


def test_lock_timeout_messages_say_what_turned_it_off(
    reports: dict[str, LintReport],
) -> None:
    by_revision = {
        f.revision: f.message
        for folder in ("bad", "plain_env")
        for f in reports[folder].findings
        if f.code == "MK103"
    }
    assert "SET lock_timeout = 0" in by_revision["mk103_lock_timeout_zero"]
    assert "RESET lock_timeout" in by_revision["mk103_reset"]
    assert "COMMIT" in by_revision["mk103_set_local_ended_by_commit"]
    assert "run_migrations" in by_revision["mk103_no_run_migrations"]
    assert "set_session_lock_timeout" not in by_revision


def test_lock_timeout_zero_in_the_environment_is_flagged(tmp_path: Path) -> None:
    project = lint_example_project(tmp_path / "p", examples="good")
    report = command.lint(
        command.load_config(project / "alembic.ini"),
        settings=Settings(lock_timeout=0.0),
    )
    flagged = {f.revision for f in report.findings if f.code == "MK103"}
    assert "add_nullable_column" in flagged
    assert "safe_add_not_null" in flagged, "safe operations still need lock_timeout"
