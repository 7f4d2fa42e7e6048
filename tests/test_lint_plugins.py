"""A third-party package adds a lint rule through the ``migrationkit.lint_rules``
entry point group: installed for the test, seen by ``lint --rules`` and in the
findings, gone after.

The plugin is a real distribution built and installed by uv (with uv_build, the
backend migrationkit itself uses) from a tiny project in the test's tmp folder.
It is installed into a folder of its own (``uv pip install --target``) that the
test puts on ``sys.path``, where ``importlib.metadata`` finds its entry point as
it would in site-packages; so tests running alongside, in other processes, never
see it, and removing it is taking the folder off the path.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from migrationkit import command
from migrationkit.cli.main import main
from migrationkit.lint import Severity
from migrationkit.settings import Settings
from tests.helpers import lint_example_project

DISTRIBUTION = "migrationkit-lint-plugin-probe"
CODE = "PROBE001"

PLUGIN = '''\
"""A lint plugin: UPDATE of probe_audit_log is forbidden (it is append-only)."""

from migrationkit.lint import Check, Rule, Step

RULE = Rule(
    code="PROBE001",
    title="UPDATE of the append-only probe_audit_log",
    lock="the audit trail: rows of probe_audit_log are never changed",
    alternative='op.bulk_insert(audit_table, [...]): append a correcting row',
)


def _updates_audit_log(step: Step) -> str | None:
    if step.anatomy.kind == "update" and step.anatomy.table == "probe_audit_log":
        return "changes rows of probe_audit_log, which is append-only"
    return None


CHECKS = (Check(RULE, _updates_audit_log),)
'''


def uv(*arguments: str) -> None:
    executable = shutil.which("uv")
    assert executable, "uv is needed to install the probe plugin"
    done = subprocess.run(
        [executable, "pip", *arguments, "--python", sys.executable],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr


@pytest.fixture
def installed_plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    package = tmp_path / "plugin" / "src" / DISTRIBUTION.replace("-", "_")
    package.mkdir(parents=True)
    (package / "__init__.py").write_text(PLUGIN)
    (tmp_path / "plugin" / "pyproject.toml").write_text(
        textwrap.dedent(
            f"""\
            [project]
            name = "{DISTRIBUTION}"
            version = "0.1"
            requires-python = ">=3.11"

            [project.entry-points."migrationkit.lint_rules"]
            probe = "{DISTRIBUTION.replace("-", "_")}:CHECKS"

            [build-system]
            requires = ["uv_build>=0.9,<0.14"]
            build-backend = "uv_build"
            """
        )
    )
    target = tmp_path / "site"
    uv(
        "install",
        "--offline",
        "--no-deps",
        "--target",
        str(target),
        str(tmp_path / "plugin"),
    )
    assert list(target.glob("*.dist-info/entry_points.txt")), "no entry point installed"
    monkeypatch.syspath_prepend(str(target))
    yield
    monkeypatch.undo()


def probe_project(tmp_path: Path) -> Path:
    project = lint_example_project(tmp_path / "p", examples="good")
    versions = project / "migrations" / "versions"
    for path in versions.glob("*.py"):
        path.unlink()
    (versions / "probe.py").write_text(
        textwrap.dedent(
            '''\
            """An UPDATE the plugin forbids.

            Revision ID: probe
            """

            from alembic import op

            revision = "probe"
            down_revision = None
            branch_labels = None
            depends_on = None


            def upgrade() -> None:
                op.execute("UPDATE probe_audit_log SET note = 'x' WHERE id = 1")


            def downgrade() -> None:
                pass
            '''
        )
    )
    return project


@pytest.mark.usefixtures("installed_plugin")
def test_plugin_rule_is_listed_and_reported(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["lint", "--rules"]) == 0
    assert f"{CODE} (plugin {DISTRIBUTION}, error): UPDATE of the append-only" in (
        capsys.readouterr().out
    )
    project = probe_project(tmp_path)
    report = command.lint(
        command.load_config(project / "alembic.ini"), settings=Settings()
    )
    (finding,) = [f for f in report.findings if f.code == CODE]
    assert finding.severity is Severity.ERROR
    assert finding.line == 15
    assert "append-only" in finding.message
    assert finding.rule.source == f"plugin {DISTRIBUTION}"
    assert not report.ok


def test_without_the_plugin_the_rule_is_unknown(tmp_path: Path) -> None:
    project = probe_project(tmp_path)
    report = command.lint(
        command.load_config(project / "alembic.ini"), settings=Settings()
    )
    assert all(f.code != CODE for f in report.findings)
