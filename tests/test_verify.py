"""verify_migration.py and migrationkit.verify, against a real PostgreSQL.

The command line runs in a private copy of the project: as a real process in
``test_at_head_every_check_passes`` and ``test_password_never_appears``, else
its ``main`` in this process (tests/in_process.py). Finer cases call the library
on the same kind of copy, then break the schema by hand. A copy's database at
head is a copy of one migrated once per module.
"""

from __future__ import annotations

import json
import subprocess
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from migrationkit.command import verify as verify_project
from migrationkit.masking import Secret
from migrationkit.settings import Settings
from migrationkit.testing.server import TestServer
from migrationkit.verify.checks import ModelCheck
from migrationkit.verify.result import CheckResult, VerificationReport
from models import User
from tests.apphelpers import (
    database_from_template,
    migrate,
    verify_script,
)
from tests.helpers import Project, copy_project
from tests.in_process import run_main
from verify_migration import MODEL_CHECKS, new_user

CHECK_NAMES = [
    "connectivity",
    "table_structure",
    "indexes_and_constraints",
    "model_functionality",
    "revision",
    "ledger",
]


@pytest.fixture
def head_project(tmp_path: Path, server: TestServer, at_head: str) -> Iterator[Project]:
    """A private copy of the project on a database of its own, at head."""
    with database_from_template(server, at_head) as database:
        yield Project(copy_project(tmp_path / "project"), database.secret_url())


@pytest.fixture
def head_engine(server: TestServer, head_project: Project) -> Iterator[sa.Engine]:
    assert head_project.database_url is not None
    engine = server.engine(sa.make_url(head_project.database_url.reveal()))
    yield engine
    engine.dispose()


def run_script(project: Project, *args: str) -> subprocess.CompletedProcess[str]:
    """``python verify_migration.py <args>`` in the project, run in this process."""
    return run_main(
        verify_script(project.path),
        args,
        cwd=project.path,
        env=project.env(),
        program=("verify_migration.py",),
    )


def verify(
    project: Project, model_checks: tuple[ModelCheck, ...] = tuple(MODEL_CHECKS)
) -> VerificationReport:
    assert project.database_url is not None
    return verify_project(
        Config(str(project.path / "alembic.ini")),
        settings=Settings(database_url=project.database_url),
        model_checks=model_checks,
    )


def result(report: VerificationReport, name: str) -> CheckResult:
    return next(check for check in report.checks if check.name == name)


def failures(report: VerificationReport) -> dict[str, str]:
    """Failed check name -> its summary, details and fix as one text."""
    return {
        check.name: "\n".join([check.summary, *check.details, check.fix or ""])
        for check in report.failed
    }


def script_head(project: Project) -> str:
    heads = ScriptDirectory.from_config(
        Config(str(project.path / "alembic.ini"))
    ).get_heads()
    assert len(heads) == 1, heads
    return heads[0]


def add_empty_revision(project: Project, *, rev: str, down: str) -> None:
    (project.path / "alembic" / "versions" / f"{rev}_noop.py").write_text(
        textwrap.dedent(f'''\
            """noop {rev}

            Revision ID: {rev}
            Revises: {down}
            """

            revision = "{rev}"
            down_revision = "{down}"
            branch_labels = None
            depends_on = None


            def upgrade() -> None:
                pass


            def downgrade() -> None:
                pass
            ''')
    )


def user_count(engine: sa.Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(sa.text("SELECT count(*) FROM users")).scalar_one())


# --- the command line ---------------------------------------------------------


def test_at_head_every_check_passes(head_project: Project) -> None:
    human = head_project.run("verify_migration.py")
    assert human.returncode == 0, human.stdout + human.stderr
    verdicts = [
        line for line in human.stdout.splitlines() if line[:4] in {"PASS", "FAIL"}
    ]
    assert [line[:4] for line in verdicts] == ["PASS"] * len(CHECK_NAMES)
    for title in ["connectivity", "table structure", "indexes and constraints"]:
        assert any(title in line for line in verdicts), title
    assert human.stdout.rstrip().endswith(f"OK: all {len(CHECK_NAMES)} checks passed.")

    machine = head_project.run("verify_migration.py", "--json")
    assert machine.returncode == 0, machine.stderr
    document = json.loads(machine.stdout)
    assert document["ok"] is True
    assert document["error"] is None
    assert document["database"]["source"] == "DATABASE_URL"
    assert document["database"]["server_version"]
    assert [check["name"] for check in document["checks"]] == CHECK_NAMES
    assert all(check["ok"] and check["fix"] is None for check in document["checks"])


def test_never_migrated_database_says_what_to_run(project: Project) -> None:
    for args in [(), ("--json",)]:
        done = run_script(project, *args)
        output = done.stdout + done.stderr
        assert done.returncode == 1, output
        assert "Traceback" not in output
        assert "never migrated" in done.stdout
        assert "`alembic upgrade head`" in done.stdout
    document = json.loads(done.stdout)
    assert document["ok"] is False
    assert "never migrated" in document["headline"]
    assert not next(c for c in document["checks"] if c["name"] == "revision")["ok"]
    # No check suggests writing a migration: nothing was ever applied here.
    assert all(c["fix"] is None for c in document["checks"] if c["name"] != "revision")
    text = run_script(project).stdout
    verdicts = [line for line in text.splitlines() if line.strip()]
    assert "never migrated" in verdicts[1], text  # said first, after the URL line
    assert "revision --autogenerate" not in text


def test_after_downgrade_base_it_fails_and_lists_pending(head_project: Project) -> None:
    assert head_project.database_url is not None
    migrate(head_project.path, head_project.database_url, "base", down=True)

    done = run_script(head_project)
    assert done.returncode == 1, done.stdout
    assert "Traceback" not in done.stdout + done.stderr
    assert "FAIL  revision: the database is behind: at base" in done.stdout
    assert "pending: 001 (create users table)" in done.stdout
    assert "table users (" in done.stdout  # the table is reported missing
    assert done.stdout.rstrip().splitlines()[-1].startswith("FAILED: 4 of 6 checks")


@pytest.mark.parametrize(
    ("url", "named"),
    [
        ("postgresql://verifier:Sup3r-Secret-Pw@127.0.0.1:1/app", "127.0.0.1:1"),
        ("postgresql://verifier:Sup3r-Secret-Pw@127.0.0.1:99999/app", "DATABASE_URL"),
    ],
    ids=["refused", "malformed"],
)
def test_password_never_appears(project: Project, url: str, named: str) -> None:
    for args in [(), ("--json",)]:
        env = project.env(DATABASE_URL=url, MIGRATIONKIT_CONNECT_WAIT="0")
        done = project.run("verify_migration.py", *args, env=env)
        output = done.stdout + done.stderr
        assert done.returncode == 1, output
        assert "Sup3r-Secret-Pw" not in output
        assert "Traceback" not in output
        assert named in output
    document = json.loads(done.stdout)  # --json still prints a document
    assert document["ok"] is False
    assert named in json.dumps(document)


def test_help_explains_checks_output_and_exit_status(project: Project) -> None:
    done = run_script(project, "--help")
    assert done.returncode == 0
    for words in [
        "DATABASE_URL",
        "table structure",
        "INVALID",
        "rolled back",
        "--json",
        "--config",
        "exit status",
    ]:
        assert words in done.stdout, words


# --- the library, on schemas broken by hand -----------------------------------


def test_structure_drift_is_caught(
    head_project: Project, head_engine: sa.Engine
) -> None:
    with head_engine.begin() as conn:
        conn.execute(sa.text("ALTER TABLE users ADD COLUMN nickname text"))
        conn.execute(sa.text("ALTER TABLE users ALTER COLUMN first_name TYPE text"))
        conn.execute(sa.text("ALTER TABLE users ALTER COLUMN created_at DROP DEFAULT"))

    report = verify(head_project)

    found = failures(report)
    assert "indexes_and_constraints" not in found, found
    text = found["table_structure"]
    assert "column users.nickname (TEXT): in the database, not in the models" in text
    assert "users.first_name: type TEXT in the database, VARCHAR(100)" in text
    assert "users.created_at: no server default in the database" in text
    assert "3 differences" in text
    # Without its server default, created_at can no longer be left to the database.
    assert "created_at" in found["model_functionality"]


def test_index_and_constraint_drift_is_caught(
    head_project: Project, head_engine: sa.Engine
) -> None:
    with head_engine.begin() as conn:
        conn.execute(sa.text("DROP INDEX idx_user_created_at"))
        conn.execute(sa.text("CREATE INDEX ix_extra ON users (first_name)"))
        conn.execute(
            sa.text("ALTER TABLE users RENAME CONSTRAINT pk_users TO users_pk")
        )
        conn.execute(
            sa.text(
                "ALTER TABLE users ADD CONSTRAINT ck_users_email_at "
                "CHECK (position('@' in email) > 1)"
            )
        )

    report = verify(head_project)

    found = failures(report)
    assert set(found) == {"indexes_and_constraints"}, found
    text = found["indexes_and_constraints"]
    assert "index idx_user_created_at on users (created_at): in the models" in text
    assert "index ix_extra on users (first_name): in the database, not in" in text
    assert "named users_pk in the database, pk_users in the models" in text
    assert "check constraint ck_users_email_at on users: in the database" in text


def test_invalid_index_is_caught(head_project: Project, head_engine: sa.Engine) -> None:
    with head_engine.begin() as conn:
        conn.execute(sa.text("DROP INDEX ix_users_email"))
    with Session(head_engine) as session, session.begin():
        session.add_all([new_user(email="twin@example.invalid") for _ in range(2)])
    autocommit = head_engine.execution_options(isolation_level="AUTOCOMMIT")
    with autocommit.connect() as conn, pytest.raises(IntegrityError):
        conn.execute(
            sa.text("CREATE UNIQUE INDEX CONCURRENTLY ix_users_email ON users (email)")
        )

    report = verify(head_project)

    check = result(report, "indexes_and_constraints")
    assert not check.ok
    assert any(
        "index ix_users_email on public.users is INVALID" in line
        for line in check.details
    ), check.details
    assert check.fix is not None
    assert "REINDEX INDEX CONCURRENTLY public.ix_users_email" in check.fix
    assert "duplicate values" in check.fix
    assert "upgrade head" not in check.fix  # a rerun would do nothing at head
    # Alembic counts the INVALID index as present: only pg_index tells.
    assert result(report, "table_structure").ok

    # Doing what the fix says makes the check pass again.
    with autocommit.connect() as conn:
        conn.execute(sa.text("DELETE FROM users"))
        conn.execute(sa.text("REINDEX INDEX CONCURRENTLY public.ix_users_email"))
    assert verify(head_project).ok


def test_model_checks_leave_nothing_behind(
    head_project: Project, head_engine: sa.Engine
) -> None:
    def commits_a_user(session: Session) -> str | None:
        """Commit, which only releases this check's savepoint."""
        session.add(new_user())
        session.commit()
        return None

    def fails_after_writing(session: Session) -> str | None:
        session.add(new_user())
        session.flush()
        raise AssertionError("deliberate failure")

    report = verify(head_project, (*MODEL_CHECKS, commits_a_user, fails_after_writing))

    check = result(report, "model_functionality")
    assert not check.ok
    assert check.summary == f"1 of {len(MODEL_CHECKS) + 2} model checks failed"
    assert check.details[-1] == "FAIL  fails_after_writing: deliberate failure"
    assert all(line.startswith("ok") for line in check.details[:-1]), check.details
    assert user_count(head_engine) == 0
    with Session(head_engine) as session:
        assert session.scalars(sa.select(User)).all() == []


def test_missing_unique_email_fails_the_model_check(
    head_project: Project, head_engine: sa.Engine
) -> None:
    with head_engine.begin() as conn:
        conn.execute(sa.text("DROP INDEX ix_users_email"))

    report = verify(head_project)

    check = result(report, "model_functionality")
    assert not check.ok
    assert any(
        line.startswith("FAIL  duplicate_email_refused") and "was accepted" in line
        for line in check.details
    ), check.details
    assert user_count(head_engine) == 0


def test_revision_behind_head_is_reported(head_project: Project) -> None:
    head = script_head(head_project)
    add_empty_revision(head_project, rev="zz_next", down=head)  # the database: head

    report = verify(head_project)

    assert set(failures(report)) == {"revision"}
    check = result(report, "revision")
    assert check.summary.startswith(f"the database is behind: at {head}, 1 pending")
    assert check.details == ("pending: zz_next (noop zz_next)",)
    assert check.fix is not None
    assert check.fix.endswith("upgrade head`")
    done = run_script(head_project)
    assert done.returncode == 1
    assert "pending: zz_next" in done.stdout


def test_multiple_heads_and_unknown_revision_are_reported(
    head_project: Project, head_engine: sa.Engine
) -> None:
    head = script_head(head_project)
    add_empty_revision(head_project, rev="zz_left", down=head)
    add_empty_revision(head_project, rev="zz_right", down=head)

    check = result(verify(head_project), "revision")
    assert not check.ok
    assert "2 heads" in check.summary
    assert "zz_left" in check.summary
    assert "zz_right" in check.summary
    assert check.fix is not None
    assert "merge heads" in check.fix

    with head_engine.begin() as conn:
        conn.execute(sa.text("UPDATE alembic_version SET version_num = 'f00dcafe'"))
    check = result(verify(head_project), "revision")
    assert not check.ok
    assert "f00dcafe, which no migration script here defines" in check.summary


def test_connection_failure_is_a_failed_connectivity_check(project: Project) -> None:
    report = verify_project(
        Config(str(project.path / "alembic.ini")),
        settings=Settings(
            database_url=Secret(
                "postgresql://verifier:Sup3r-Secret-Pw@127.0.0.1:1/app"
            ),
            connect_wait=0,
        ),
        model_checks=MODEL_CHECKS,
    )
    assert not report.ok
    assert [check.name for check in report.checks] == ["connectivity"]
    assert "127.0.0.1:1" in report.checks[0].summary
    assert "Sup3r-Secret-Pw" not in repr(report)
