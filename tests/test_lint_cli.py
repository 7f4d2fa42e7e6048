"""``migrationkit lint`` on the command line: exit codes, formats, selections.

Commands run in-process (``migrationkit.cli.main.main``), on copies of the lint
corpus's miniature project in each test's own folder. Offline: no database.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from migrationkit.cli.main import main
from migrationkit.lint import all_rules
from tests.helpers import lint_example_project


def lint(project: Path, *args: str) -> int:
    return main(["-c", str(project / "alembic.ini"), "lint", *args])


def test_bad_examples_fail_naming_rule_and_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    project = lint_example_project(tmp_path / "p", examples="bad")
    assert lint(project) == 1
    out = capsys.readouterr().out
    assert (
        "migrations/versions/mk101_update_whole_table.py:16 (execute): error MK101"
        in out
    )
    assert (
        'instead: op.backfill_in_batches(table="users", set_sql="is_active = true", '
        'pending_sql="<true only for rows not updated yet>")'
    ) in out
    assert "migrationkit lint: FAILED:" in out.splitlines()[-1]


def test_good_examples_pass(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    project = lint_example_project(tmp_path / "p", examples="good")
    assert lint(project) == 0
    out = capsys.readouterr().out
    assert out.startswith("migrationkit lint: ok:")
    assert lint(project, "--show-allowed") == 0
    assert "allowed because: no release reads first_name" in capsys.readouterr().out


def test_json_report(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    project = lint_example_project(tmp_path / "p", examples="bad")
    assert lint(project, "--format", "json") == 1
    report = json.loads(capsys.readouterr().out)
    assert report["ok"] is False
    findings = [f for r in report["revisions"] for f in r["findings"]]
    mk102 = next(f for f in findings if f["code"] == "MK102")
    assert mk102["path"] == "migrations/versions/mk102_concurrently_in_transaction.py"
    assert mk102["also"] == ["ban-concurrent-index-creation-in-transaction"]
    assert report["counts"]["error"] >= len({f["revision"] for f in findings}) - 2


def test_github_annotations(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    project = lint_example_project(tmp_path / "p", examples="bad")
    assert lint(project, "--format", "github") == 1
    lines = capsys.readouterr().out.splitlines()
    assert (
        "::error file=migrations/versions/mk104_drop_table.py,line=16,"
        "title=MK104 destructive change (drop table%2C drop column%2C narrowing "
        "type change) without an acknowledgement::drops table login_events"
    ) in "\n".join(lines)
    assert all(line.startswith("::") for line in lines[:-1])


def test_rules_lists_every_rule(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["lint", "--rules"]) == 0
    out = capsys.readouterr().out
    for rule in all_rules():
        assert f"{rule.code} ({rule.source}" in out


def test_since_revision_lints_only_later_revisions(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    project = lint_example_project(tmp_path / "p", examples="good")
    versions = project / "migrations" / "versions"
    child = versions / "targeted_update.py"
    child.write_text(
        child.read_text().replace(
            "down_revision: str | None = None",
            'down_revision: str | None = "add_nullable_column"',
        )
    )
    assert (
        lint(project, "--since-revision", "add_nullable_column", "--format", "json")
        == 0
    )
    report = json.loads(capsys.readouterr().out)
    assert [r["revision"] for r in report["revisions"]] == ["targeted_update"]
    assert report["selection"] == "revisions after add_nullable_column"


def test_since_git_lints_changed_and_new_revisions(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    git = shutil.which("git")
    if git is None:
        pytest.skip("git is not installed: --since-git needs it")
    project = lint_example_project(tmp_path / "p", examples="good")

    def run(*args: str) -> None:
        subprocess.run(
            [git, "-c", "user.name=t", "-c", "user.email=t@t.invalid", *args],
            cwd=project,
            check=True,
            capture_output=True,
        )

    run("init", "-q")
    run("add", ".")
    run("commit", "-q", "-m", "examples")
    versions = project / "migrations" / "versions"
    changed = versions / "add_nullable_column.py"
    changed.write_text(changed.read_text().replace("nickname", "nick"))
    shutil.copy2(versions / "targeted_update.py", versions / "copy_of_targeted.py")
    new = versions / "copy_of_targeted.py"
    new.write_text(new.read_text().replace('"targeted_update"', '"copy_of_targeted"'))
    assert lint(project, "--since-git", "HEAD", "--format", "json") == 0
    report = json.loads(capsys.readouterr().out)
    assert sorted(r["revision"] for r in report["revisions"]) == [
        "add_nullable_column",
        "copy_of_targeted",
    ]


def test_unknown_config_key_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    project = lint_example_project(tmp_path / "p", examples="good")
    (project / "pyproject.toml").write_text(
        "[tool.migrationkit.lint]\nlarge_tables = 5\n"
    )
    assert lint(project) == 1
    err = capsys.readouterr().err
    assert "FAILED:" in err
    assert "unknown key(s) large_tables" in err


def test_disabling_a_rule_needs_a_reason(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    project = lint_example_project(tmp_path / "p", examples="bad")
    (project / "pyproject.toml").write_text(
        '[tool.migrationkit.lint.disable]\nMK101 = ""\n'
    )
    assert lint(project) == 1
    assert "every reason must be written" in capsys.readouterr().err
    (project / "pyproject.toml").write_text(
        '[tool.migrationkit.lint.disable]\nMK101 = "tiny tables only, by design"\n'
    )
    assert lint(project, "--format", "json") == 1
    report = json.loads(capsys.readouterr().out)
    mk101 = [
        f for r in report["revisions"] for f in r["findings"] if f["code"] == "MK101"
    ]
    assert mk101
    assert all(f["suppressed"] == "tiny tables only, by design" for f in mk101)


def test_missing_squawk_says_how_to_install_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    project = lint_example_project(tmp_path / "p", examples="good")
    monkeypatch.setattr(shutil, "which", lambda _name: None)
    monkeypatch.setattr(
        "migrationkit.lint.squawk.sysconfig.get_path", lambda _name: str(tmp_path)
    )
    assert lint(project) == 1
    err = capsys.readouterr().err
    assert "needs squawk" in err
    assert "pip install 'migrationkit[lint]'" in err


def test_missing_config_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert lint(tmp_path) == 1
    assert "No Alembic configuration" in capsys.readouterr().err
