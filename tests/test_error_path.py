"""One error path: what stops a migration is one ``FAILED:`` paragraph, not a traceback.

Each failure is produced for real (a statement that outlives ``statement_timeout``,
a role without the CREATE privilege, a backend terminated from another session,
a driver that is not installed; Ctrl-C is in ``test_interrupts.py``) and each test
checks the exact first line, the exit status, that no traceback and no duplicate
``ERROR [alembic.util.messaging]`` line is printed, and that no password shows.
Alembic's command line exits 255 on ``FAILED:``; ``migrationkit`` exits 1, or 130
after Ctrl-C.
"""

from __future__ import annotations

import importlib.util
import subprocess

import pytest
import sqlalchemy as sa

from migrationkit.database import DatabaseTarget
from migrationkit.testing.server import TestServer
from tests.helpers import (
    ALEMBIC_FAILED,
    REPO,
    Project,
    Role,
    failed_line,
    first_line,
    ok,
    only_first_revision,
    revision_ids,
    revision_now,
    single_failure,
    wait_for,
    write_revision,
)

PASSWORD = "Unseen-Pw-7c1e"


def one_failure(result: subprocess.CompletedProcess[str], *, status: int) -> str:
    return single_failure(result, status=status, secret=PASSWORD)


def base_and_one(project: Project, *, rev: str, upgrade: str) -> str:
    """Keep the base revision and add ``rev`` after it; returns the base's id."""
    only_first_revision(project)
    base = revision_ids(project)[0]
    write_revision(project, rev=rev, down=base, upgrade=upgrade)
    return base


# -- statement_timeout -----------------------------------------------------------


def test_statement_timeout_is_one_paragraph(project: Project) -> None:
    base = base_and_one(
        project, rev="900slow", upgrade='op.execute("SELECT pg_sleep(5)")'
    )
    result = project.alembic("-x", "statement_timeout=50ms", "upgrade", "head")
    output = one_failure(result, status=ALEMBIC_FAILED)
    assert failed_line(result) == (
        f"FAILED: Migration upgrade {base} -> 900slow, test revision 900slow ran "
        "longer than statement_timeout=50ms and was cancelled (SQLSTATE 57014)."
    )
    assert "Statement: SELECT pg_sleep(5)" in output
    assert f"Its transaction was rolled back; the database is at revision {base}." in (
        output
    )
    assert "-x statement_timeout=10min" in output
    assert revision_now(project) == base


# -- any other database error, and a bug in a revision ----------------------------


def test_any_database_error_is_one_paragraph(project: Project) -> None:
    base = base_and_one(project, rev="900zero", upgrade='op.execute("SELECT 1/0")')
    result = project.alembic("upgrade", "head")
    output = one_failure(result, status=ALEMBIC_FAILED)
    assert failed_line(result) == (
        f"FAILED: Migration upgrade {base} -> 900zero, test revision 900zero failed: "
        "division by zero (SQLSTATE 22012)."
    )
    assert "Statement: SELECT 1/0" in output
    assert f"the database is at revision {base}." in output


def test_a_bug_in_a_revision_keeps_its_traceback(project: Project) -> None:
    base_and_one(
        project,
        rev="900bug",
        upgrade="""
            try:
                op.execute("SELECT 1/0")
            except sa.exc.DataError:
                raise RuntimeError("a bug in the revision, not the database") from None
        """,
    )
    result = project.alembic("upgrade", "head")
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert "Traceback" in output
    assert "RuntimeError: a bug in the revision, not the database" in output
    assert "FAILED:" not in output


# -- a role without privileges ---------------------------------------------------


def test_a_role_without_create_privilege_is_told_what_to_grant(
    project: Project,
    server: TestServer,
    database: DatabaseTarget,
    password_role: Role,
) -> None:
    base = base_and_one(project, rev="900next", upgrade="pass")
    here = server.engine(database)
    try:
        with here.begin() as conn:
            # The role may keep Alembic's version table, but create nothing else.
            conn.execute(
                sa.text(f"REVOKE CREATE ON SCHEMA public FROM {password_role.name}")
            )
            conn.execute(
                sa.text(
                    "CREATE TABLE alembic_version (version_num varchar(32) NOT NULL"
                    " CONSTRAINT alembic_version_pkc PRIMARY KEY)"
                )
            )
            conn.execute(
                sa.text(f"ALTER TABLE alembic_version OWNER TO {password_role.name}")
            )
    finally:
        here.dispose()
    url = database.url.set(
        username=password_role.name, password=password_role.password.reveal()
    ).render_as_string(hide_password=False)
    result = project.alembic("upgrade", "head", env=project.env(DATABASE_URL=url))
    output = one_failure(result, status=ALEMBIC_FAILED)
    assert password_role.password.reveal() not in output
    # The first thing a run creates is its ledger (alembic_version_ledger):
    # without it nothing is migrated, and the message says what to grant.
    assert failed_line(result).startswith(
        "FAILED: The migration ledger alembic_version_ledger is missing and "
        f"'{password_role.name}' may not create it: permission denied for schema "
        "public"
    ), output
    assert f"GRANT CREATE ON SCHEMA public TO {password_role.name}" in output
    assert "Nothing was changed." in output
    assert base  # the history's first revision never ran
    with server.engine(database).connect() as conn:
        assert (
            conn.execute(sa.text("SELECT count(*) FROM alembic_version")).scalar() == 0
        )


def test_a_role_that_does_not_own_the_table_is_told_about_ownership(
    project: Project,
    server: TestServer,
    database: DatabaseTarget,
    password_role: Role,
) -> None:
    """ALTER and DROP belong to a table's owner: no GRANT on it helps, so the
    advice must not suggest one (it used to say GRANT CREATE ON SCHEMA)."""
    base_and_one(
        project,
        rev="900owned",
        upgrade='op.execute("CREATE TABLE owned_here (id int)")',
    )
    ok(project.alembic("upgrade", "head"))  # as the superuser: it owns the table
    here = server.engine(database)
    try:
        with here.begin() as conn:
            conn.execute(
                sa.text(
                    f"GRANT ALL ON ALL TABLES IN SCHEMA public TO {password_role.name}"
                )
            )
    finally:
        here.dispose()
    write_revision(
        project,
        rev="901alter",
        down="900owned",
        upgrade='op.execute("ALTER TABLE owned_here ADD COLUMN note text")',
    )
    url = database.url.set(
        username=password_role.name, password=password_role.password.reveal()
    ).render_as_string(hide_password=False)
    result = project.alembic("upgrade", "head", env=project.env(DATABASE_URL=url))
    output = one_failure(result, status=ALEMBIC_FAILED)
    assert "must be owner of table owned_here (SQLSTATE 42501)" in failed_line(result)
    assert "only the owner of table owned_here" in output
    assert f"make {password_role.name} a member of it" in output
    assert "GRANT CREATE ON SCHEMA" not in output
    assert password_role.password.reveal() not in output


def first_doc(project: Project) -> str:
    """The base revision's message, as Alembic prints it in its step lines."""
    result = project.alembic("history")
    line = result.stdout.strip().splitlines()[-1]
    return line.split(", ", 1)[1]


# -- the server goes away --------------------------------------------------------


def test_a_terminated_backend_is_a_lost_connection(
    project: Project, server: TestServer, database: DatabaseTarget
) -> None:
    base = base_and_one(
        project, rev="900gone", upgrade='op.execute("SELECT pg_sleep(60)")'
    )
    process = project.popen_alembic("upgrade", "head")
    admin = server.engine().execution_options(isolation_level="AUTOCOMMIT")
    sleeping = sa.text(
        "SELECT pid FROM pg_stat_activity WHERE datname = :db"
        " AND query = 'SELECT pg_sleep(60)' AND state = 'active'"
    )
    try:
        with admin.connect() as conn:
            wait_for(
                lambda: (
                    conn.execute(sleeping, {"db": database.url.database}).first()
                    is not None
                ),
                what="the migration's statement",
            )
            pid = conn.execute(sleeping, {"db": database.url.database}).scalar_one()
            conn.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        stdout, stderr = process.communicate(timeout=60)
    finally:
        process.kill()
        admin.dispose()
    result = subprocess.CompletedProcess(
        process.args, process.returncode, stdout, stderr
    )
    output = one_failure(result, status=ALEMBIC_FAILED)
    assert failed_line(result) == (
        f"FAILED: Lost the connection to PostgreSQL during migration upgrade {base} "
        "-> 900gone, test revision 900gone: terminating connection due to "
        "administrator command (SQLSTATE 57P01)."
    )
    assert f"the database is at revision {base}." in output
    assert len(output.splitlines()) < 15, output
    assert revision_now(project) == base


# -- drivers -----------------------------------------------------------------------


def test_a_missing_driver_is_one_line(repo_project: Project) -> None:
    if importlib.util.find_spec("psycopg2") is not None:
        pytest.skip("psycopg2 is installed here, so the guide's URL would work")
    env = repo_project.env(
        DATABASE_URL=f"postgresql+psycopg2://app:{PASSWORD}@127.0.0.1:1/app"
    )
    expected = (
        "FAILED: The database URL from DATABASE_URL asks for the driver 'psycopg2' "
        "(postgresql+psycopg2://), but its module 'psycopg2' is not installed. "
        "migrationkit connects with psycopg 3: write postgresql:// or "
        "postgresql+psycopg://, or install that driver."
    )
    result = repo_project.alembic("upgrade", "head", env=env)
    one_failure(result, status=ALEMBIC_FAILED)
    assert failed_line(result) == expected
    result = repo_project.call("-m", "migrationkit", "verify", env=env)
    one_failure(result, status=1)
    assert first_line(result.stderr) == expected


def test_an_unknown_driver_is_one_line(repo_project: Project) -> None:
    env = repo_project.env(
        DATABASE_URL=f"postgresql+nosuchdriver://app:{PASSWORD}@127.0.0.1:1/app"
    )
    result = repo_project.alembic("current", env=env)
    one_failure(result, status=ALEMBIC_FAILED)
    assert failed_line(result) == (
        "FAILED: DATABASE_URL asks for the driver 'nosuchdriver' "
        "(postgresql+nosuchdriver://), which SQLAlchemy does not know. Use "
        "postgresql:// (psycopg 3), or postgresql+psycopg://."
    )


# -- settings and arguments --------------------------------------------------------


def test_an_out_of_range_duration_is_one_paragraph(project: Project) -> None:
    only_first_revision(project)
    result = project.alembic("-x", "lock_timeout=99999999h", "upgrade", "head")
    one_failure(result, status=ALEMBIC_FAILED)
    # Refused either by migrationkit's parsing or by PostgreSQL's SET: the first
    # line names the setting either way.
    assert "lock_timeout" in failed_line(result)
    assert revision_now(project) == ""


def test_every_failed_is_printed_once(project: Project) -> None:
    result = project.alembic("upgrade", "nosuchrev")
    one_failure(result, status=ALEMBIC_FAILED)
    assert failed_line(result) == (
        "FAILED: Can't locate revision identified by 'nosuchrev'"
    )


@pytest.mark.parametrize(
    "command",
    [
        ("-m", "migrationkit", "verify"),
        ("verify_migration.py",),
        ("main.py",),
    ],
    ids=["migrationkit", "verify_migration.py", "main.py"],
)
def test_every_entry_point_says_failed(
    repo_project: Project, command: tuple[str, ...]
) -> None:
    env = repo_project.env(DATABASE_URL="postgres://app@127.0.0.1:1/app?sslmod=x")
    result = repo_project.run(*command, env=env)
    one_failure(result, status=1)
    assert "Error:" not in result.stderr
    assert first_line(result.stderr).startswith(
        "FAILED: The database URL from DATABASE_URL was refused by the driver: "
    )


def test_debug_and_raiseerr_show_the_traceback(repo_project: Project) -> None:
    env = repo_project.env(DATABASE_URL=f"postgresql://app:{PASSWORD}@127.0.0.1:1/app")
    for result in (
        repo_project.alembic("--raiseerr", "current", env=env),
        repo_project.run("main.py", "--debug", env=env),
    ):
        output = result.stdout + result.stderr
        assert result.returncode == 1, output
        assert "Traceback" in output
        assert (
            "DatabaseConnectionError: Cannot reach PostgreSQL at 127.0.0.1:1" in output
        )
        assert PASSWORD not in output


def test_the_readme_text_documents_the_exit_codes() -> None:
    text = (REPO / "docs" / "errors-and-secrets.md").read_text()
    for needle in ("255", "130", "--debug", "--raiseerr", "FAILED:"):
        assert needle in text
