"""Lint on projects nobody here wrote: their env.py, their history, their advice.

Offline: each test builds a miniature project in its own tmp folder (the lint
corpus's project, with an env.py or revisions of the test's own) and lints it.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from migrationkit import command
from migrationkit.lint import Finding, LintReport
from migrationkit.lint.render import EnvFailedError
from migrationkit.settings import Settings
from tests.helpers import LINT_EXAMPLES, lint_example_project

SETTINGS = Settings()

TEMPLATE_ENV = '''\
"""Alembic's template env.py, offline branch, as an adopter's project has it."""
from alembic import context
{imports}
config = context.config


def run_migrations_offline() -> None:
    url = config.get_main_option("sqlalchemy.url")
    context.configure(url=url, target_metadata=None, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


run_migrations_offline()
'''


def revision(name: str, body: str, *, down: str | None = None) -> str:
    """A revision file whose upgrade() runs ``body``."""
    steps = textwrap.indent(textwrap.dedent(body), "    ")
    return (
        f'"""{name}\n\nRevision ID: {name}\n"""\n\n'
        "import sqlalchemy as sa\nfrom alembic import op\n\n"
        f"revision = {name!r}\ndown_revision = {down!r}\n"
        "branch_labels = None\ndepends_on = None\n\n\n"
        f"def upgrade() -> None:\n{steps}\n\n"
        "def downgrade() -> None:\n    pass\n"
    )


def project_with(tmp_path: Path, revisions: dict[str, str]) -> Path:
    project = lint_example_project(tmp_path / "p", examples="good")
    versions = project / "migrations" / "versions"
    for path in versions.glob("*.py"):
        path.unlink()
    for name, text in revisions.items():
        (versions / f"{name}.py").write_text(text)
    return project


def lint(project: Path) -> LintReport:
    return command.lint(command.load_config(project / "alembic.ini"), settings=SETTINGS)


@pytest.mark.parametrize(
    ("imports", "cause", "hint"),
    [
        ("", "Connection, url, or dialect_name is required", "run_migrations"),
        (
            "from no_such_models_package import Base  # noqa: F401\n",
            "No module named 'no_such_models_package'",
            "prepend_sys_path",
        ),
    ],
)
def test_failing_env_py_is_one_error_with_its_cause(
    tmp_path: Path, imports: str, cause: str, hint: str
) -> None:
    """Not MK105 once per revision: one error naming env.py, the cause, the fix."""
    project = lint_example_project(tmp_path / "p", examples="good")
    env = project / "migrations" / "env.py"
    env.write_text(TEMPLATE_ENV.format(imports=imports))
    with pytest.raises(EnvFailedError) as raised:
        lint(project)
    message = str(raised.value)
    assert message.count("env.py failed") == 1
    assert f"{env}:" in message
    assert cause in message
    assert hint in message
    assert "MK105" not in message
    assert "op.get_bind()" not in message


def test_failing_env_py_through_the_cli_prints_one_failed_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from migrationkit.cli.main import main  # noqa: PLC0415 - the entry point under test

    project = lint_example_project(tmp_path / "p", examples="good")
    (project / "migrations" / "env.py").write_text(TEMPLATE_ENV.format(imports=""))
    assert main(["-c", str(project / "alembic.ini"), "lint"]) == 1
    captured = capsys.readouterr()
    output = captured.out + captured.err
    assert output.count("FAILED:") == 1
    assert "MK105" not in output


def test_revision_that_queries_still_gets_mk105(tmp_path: Path) -> None:
    """The env.py check does not hide a revision's own offline failure."""
    project = lint_example_project(tmp_path / "p", examples="bad")
    report = lint(project)
    assert {f.revision for f in report.findings if f.code == "MK105"} == {
        "mk105_get_bind"
    }


def only(report: LintReport, code: str) -> Finding:
    (finding,) = [f for f in report.findings if f.code == code and f.counts]
    return finding


def test_table_from_an_earlier_revision_is_named_and_still_flagged(
    tmp_path: Path,
) -> None:
    """Same revision: not flagged. Earlier revision: flagged, saying which made it."""
    project = project_with(
        tmp_path,
        {
            "a_create": revision(
                "a_create",
                """\
                op.create_table(
                    "events",
                    sa.Column("id", sa.BigInteger(), primary_key=True),
                    sa.Column("kind", sa.Text()),
                )
                op.create_index("ix_events_id_same_revision", "events", ["id"])
                """,
            ),
            "b_index": revision(
                "b_index",
                'op.create_index("ix_events_kind", "events", ["kind"])\n',
                down="a_create",
            ),
        },
    )
    report = lint(project)
    finding = only(report, "require-concurrent-index-creation")
    assert finding.revision == "b_index"
    assert finding.table_origin is not None
    assert "a_create" in finding.table_origin
    assert finding.advice == (
        'op.create_index_concurrently("ix_events_kind", "events", ["kind"])'
    )


def test_one_statement_one_finding(tmp_path: Path) -> None:
    """squawk's constraint-missing-not-valid is folded where NOT VALID cannot apply."""
    project = project_with(
        tmp_path,
        {
            "pk": revision(
                "pk",
                'op.execute("ALTER TABLE users ADD CONSTRAINT users_pkey "\n'
                '           "PRIMARY KEY (id)")\n',
            )
        },
    )
    report = lint(project)
    counted = [f for f in report.findings if f.counts and f.statement]
    assert [f.code for f in counted] == ["adding-serial-primary-key-field"]
    assert counted[0].also == ("constraint-missing-not-valid",)
    assert "NOT VALID" not in counted[0].instead
    assert counted[0].instead.startswith(
        'op.create_index_concurrently("users_pkey", "users", ["id"], unique=True)'
    )


def test_every_bad_example_names_a_call_to_write_instead(tmp_path: Path) -> None:
    project = lint_example_project(tmp_path / "p", examples="bad")
    for finding in lint(project).findings:
        if finding.counts and finding.rule.source == "migrationkit":
            assert (
                "(" in finding.instead or "# migrationkit-lint:" in finding.instead
            ), (
                finding.code,
                finding.instead,
            )


def test_op_form_and_function_form_lint_alike(tmp_path: Path) -> None:
    calls = {
        "create_index_concurrently": '("ix_users_first_name", "users", ["first_name"])',
        "add_not_null": '("users", "first_name")',
        "add_unique_constraint_using_index": '("uq_users_email", "users", ["email"])',
    }
    revisions: dict[str, str] = {}
    for name, arguments in calls.items():
        revisions[f"op_{name}"] = revision(
            f"op_{name}", f"import migrationkit.ops\nop.{name}{arguments}\n"
        )
        revisions[f"fn_{name}"] = revision(
            f"fn_{name}",
            f"from migrationkit.ops import {name}\n{name}{arguments}\n",
        )
    report = lint(project_with(tmp_path, revisions))
    by_revision = {
        result.revision: [(f.code, f.counts) for f in result.findings]
        for result in report.revisions
    }
    for name in calls:
        assert by_revision[f"op_{name}"] == by_revision[f"fn_{name}"] == []


def test_examples_folder_exists() -> None:
    assert (LINT_EXAMPLES / "project" / "alembic.ini").is_file()
