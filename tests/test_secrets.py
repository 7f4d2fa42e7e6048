"""No password in any output: every entry point, three places to put it.

The password goes in the URL (``user:pw@``), in its query (``?password=``) or in
``PGPASSWORD``; each entry point (Alembic's commands, ``migrationkit``,
``verify_migration.py``, ``main.py``, and this test suite's own failure report)
runs against an unreachable server, against the real one with a wrong password,
and with the right one under DEBUG logging. Nothing they print, log or show in a
``--debug``/``--raiseerr`` traceback may contain the password.

Every command whose output is checked here runs as a process of its own
(``Project.run``, ``Project.alembic_process``): the secrecy of what a real
process prints is the point. Only setup steps run in-process.
"""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import URL, make_url

from migrationkit.database import DatabaseTarget
from migrationkit.masking import mask_secrets
from migrationkit.runtime.blockers import Blocker
from migrationkit.testing.server import TestServer
from tests.helpers import (
    REPO,
    Project,
    Role,
    Service,
    only_first_revision,
    revision_ids,
    skip_unless_passwords_are_checked,
    write_revision,
)

pytestmark = pytest.mark.slow  # real processes' output, searched for passwords

PLACEMENTS = ("url", "query", "pgpassword")
UNREACHABLE = make_url("postgresql://app@127.0.0.1:1/app")


def placed(url: URL, *, user: str, password: str, placement: str) -> dict[str, str]:
    """The environment that gives ``password`` for ``user`` at ``url``."""
    url = url.set(username=user)
    if placement == "url":
        url = url.set(password=password)
    elif placement == "query":
        url = url.update_query_dict({"password": password})
    env = {"DATABASE_URL": url.render_as_string(hide_password=False)}
    if placement == "pgpassword":
        env["PGPASSWORD"] = password
    return env


def no_password(
    result: subprocess.CompletedProcess[str], password: str, *, status: int
) -> str:
    output = result.stdout + result.stderr
    assert result.returncode == status, output
    assert password not in output, f"password shown:\n{output}"
    return output


ENTRY_POINTS: dict[str, tuple[tuple[str, ...], int]] = {
    "alembic current": (("-m", "alembic", "current"), 255),
    "alembic --raiseerr": (("-m", "alembic", "--raiseerr", "upgrade", "head"), 1),
    "migrationkit verify": (("-m", "migrationkit", "verify"), 1),
    "migrationkit --debug": (("-m", "migrationkit", "--debug", "verify"), 1),
    "migrationkit --json": (("-m", "migrationkit", "verify", "--json"), 1),
    "verify_migration.py": (("verify_migration.py",), 1),
    "main.py": (("main.py",), 1),
    "main.py --debug": (("main.py", "--debug"), 1),
}


@pytest.mark.parametrize("placement", PLACEMENTS)
@pytest.mark.parametrize("entry", sorted(ENTRY_POINTS))
def test_unreachable_server(repo_project: Project, entry: str, placement: str) -> None:
    password = f"Unreach-{uuid.uuid4().hex[:12]}"
    args, status = ENTRY_POINTS[entry]
    env = repo_project.env(
        **placed(UNREACHABLE, user="app", password=password, placement=placement)
    )
    output = no_password(repo_project.run(*args, env=env), password, status=status)
    assert "127.0.0.1:1" in output


def wrong_password_env(
    project: Project, server: TestServer, url: URL, *, role: Role, placement: str
) -> tuple[str, dict[str, str]]:
    """A wrong password for ``role``, and the environment that gives it."""
    wrong = f"Wrong-{uuid.uuid4().hex[:12]}"
    skip_unless_passwords_are_checked(
        server, url.set(username=role.name, password=wrong)
    )
    env = project.env(
        **placed(url, user=role.name, password=wrong, placement=placement)
    )
    return wrong, env


@pytest.mark.parametrize("placement", PLACEMENTS)
def test_wrong_password(
    repo_project: Project,
    server: TestServer,
    database: DatabaseTarget,
    password_role: Role,
    placement: str,
) -> None:
    wrong, env = wrong_password_env(
        repo_project, server, database.url, role=password_role, placement=placement
    )
    for args, status in (
        (("-m", "alembic", "current"), 255),
        (("-m", "alembic", "--raiseerr", "current"), 1),
        (("-m", "migrationkit", "--debug", "verify"), 1),
        (("main.py",), 1),
    ):
        output = no_password(repo_project.run(*args, env=env), wrong, status=status)
        assert "password authentication failed" in output, output


DEBUG_LOGGING = """
[loggers]
keys = root

[handlers]
keys = console

[formatters]
keys = generic

[logger_root]
level = DEBUG
handlers = console

[handler_console]
class = StreamHandler
args = (sys.stderr,)
level = NOTSET
formatter = generic

[formatter_generic]
format = %(levelname)s [%(name)s] %(message)s
"""


def log_everything(project: Project) -> None:
    """Replace the project's logging sections: every logger at DEBUG."""
    ini = project.path / "alembic.ini"
    text = ini.read_text()
    kept = text[: text.index("[loggers]")]
    ini.write_text(kept + textwrap.dedent(DEBUG_LOGGING))


@pytest.mark.parametrize("placement", PLACEMENTS)
def test_right_password_under_debug_logging(
    project: Project,
    database: DatabaseTarget,
    password_role: Role,
    placement: str,
    services: Callable[..., Service],
) -> None:
    log_everything(project)
    password = password_role.password.reveal()
    env = project.env(
        **placed(
            database.url,
            user=password_role.name,
            password=password,
            placement=placement,
        )
    )
    upgrade = no_password(
        project.alembic_process("upgrade", "head", env=env), password, status=0
    )
    assert "DEBUG [" in upgrade, "DEBUG logging did not take effect"
    no_password(project.run("verify_migration.py", env=env), password, status=0)
    service = services(project, env=env).wait_until_answering()
    assert service.request("GET", "/health").status == 200
    assert service.stop() in (0, -15), service.output()  # uvicorn re-raises SIGTERM
    assert password not in service.output()


def test_a_blocking_session_setting_a_password_shows_only_the_statement_kind(
    project: Project, engine: sa.Engine, password_role: Role
) -> None:
    only_first_revision(project)
    base = revision_ids(project)[0]
    write_revision(
        project,
        rev="900add",
        down=base,
        upgrade='op.add_column("users", sa.Column("nickname", sa.Text))',
    )
    assert project.alembic("upgrade", base).returncode == 0
    password = password_role.password.reveal()
    with engine.connect() as blocker:
        blocker.execute(sa.text("LOCK TABLE users IN ACCESS SHARE MODE"))
        # Its last query, as pg_stat_activity shows it: a spelling of the
        # password that no pattern for PASSWORD '...' catches.
        blocker.execute(
            sa.text(f"ALTER ROLE {password_role.name} PASSWORD/**/U&'{password}'")
        )
        result = project.alembic_process(
            "-x", "lock_timeout=200ms", "-x", "lock_retries=1", "upgrade", "head"
        )
        blocker.rollback()
    output = no_password(result, password, status=255)
    assert "ALTER ROLE ... (not shown: it mentions a password)" in output
    assert "Retry 1 of 1" in output


@pytest.mark.parametrize(
    ("query", "secret"),
    [
        ("ALTER ROLE app PASSWORD 'Plain-s3cret'", "Plain-s3cret"),
        ("ALTER ROLE app PASSWORD U&'Uni\\0063ode-s3cret'", "ode-s3cret"),
        ("ALTER ROLE app PASSWORD/**/'Comm-s3cret'", "Comm-s3cret"),
        ("ALTER ROLE app PASSWORD E'Esc\\'aped-s3cret'", "aped-s3cret"),
        ("alter role app password $$Dollar-s3cret$$", "Dollar-s3cret"),
        ("/* x */ CREATE ROLE app LOGIN PASSWORD -- y\n'Line-s3cret'", "Line-s3cret"),
    ],
)
def test_every_spelling_of_a_sql_password_is_masked(query: str, secret: str) -> None:
    assert secret not in mask_secrets(query)
    shown = Blocker(
        pid=1,
        application="app",
        state="active",
        query_start=None,
        holds=None,
        query=query,
    ).describe()
    assert secret not in shown
    assert "ROLE ... (not shown: it mentions a password)" in shown


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://u:Qx9Le@k/p4ss?d@127.0.0.1:1/db",
        "postgresql://u:Qx9Le@k/p4ss#d@127.0.0.1:1/db",
        "postgresql://u:Qx9Le@k:p4ss@127.0.0.1:1/db",
    ],
)
def test_an_at_then_a_question_mark_in_the_password_is_refused_unshown(
    repo_project: Project, url: str
) -> None:
    """SQLAlchemy ends the password at the first '@' and the query at '?': the
    rest of the password must not come out as a host, database or query."""
    for entry in ("alembic current", "migrationkit verify", "main.py"):
        args, _status = ENTRY_POINTS[entry]
        result = repo_project.run(*args, env=repo_project.env(DATABASE_URL=url))
        output = result.stdout + result.stderr
        assert result.returncode != 0, output
        assert "p4ss" not in output, f"{entry} showed the password's tail:\n{output}"
        assert "Qx9Le" not in output
        assert "'@' characters" in output, output


def test_control_characters_from_the_database_reach_no_terminal(
    project: Project, engine: sa.Engine
) -> None:
    """ESC and BEL in a lock holder's query and in the version table are shown
    as escapes by the lock message, ``alembic current`` and ``verify``."""
    only_first_revision(project)
    base = revision_ids(project)[0]
    write_revision(
        project,
        rev="900add",
        down=base,
        upgrade='op.add_column("users", sa.Column("nickname", sa.Text))',
    )
    assert project.alembic("upgrade", base).returncode == 0
    with engine.connect() as blocker:
        blocker.execute(sa.text("LOCK TABLE users IN ACCESS SHARE MODE"))
        blocker.execute(sa.text("SELECT '\x1b]0;owned\x07\x1b[2J' AS title"))
        locked = project.alembic_process(
            "-x", "lock_timeout=200ms", "-x", "lock_retries=0", "upgrade", "head"
        )
        blocker.rollback()
    with engine.begin() as conn:
        conn.execute(
            sa.text("UPDATE alembic_version SET version_num = :v"),
            {"v": "\x1b[31mred\x07"},
        )
    current = project.alembic_process("current")
    verified = project.run("-m", "migrationkit", "verify")
    for result in (locked, current, verified):
        output = result.stdout + result.stderr
        assert result.returncode != 0, output
        assert "\x1b" not in output, repr(output)
        assert "\x07" not in output, repr(output)
    assert "\\x1b]0;owned\\x07" in locked.stdout + locked.stderr
    for result in (current, verified):
        assert "\\x1b[31mred\\x07" in result.stdout + result.stderr


FAILING_TESTS = """
import sqlalchemy as sa


def test_through_the_plugin_fixture(migrationkit_database):
    pass


def test_through_an_engine_of_its_own(migrationkit_server):
    with migrationkit_server.engine().connect() as conn:
        conn.execute(sa.text("SELECT 1"))
"""


def run_pytest(
    args: list[str], *, cwd: Path, env: dict[str, str]
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-n", "0", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


@pytest.mark.parametrize("placement", PLACEMENTS)
def test_a_failing_test_run_shows_no_password(  # noqa: PLR0917 - pytest fixtures
    repo_project: Project,
    server: TestServer,
    database: DatabaseTarget,
    password_role: Role,
    tmp_path: Path,
    placement: str,
) -> None:
    """This suite's own tests, and a project's tests on migrationkit's pytest
    plugin, fail against a server refusing the password: their reports (with
    locals and long tracebacks) show the failure and never the password."""
    wrong, env = wrong_password_env(
        repo_project, server, database.url, role=password_role, placement=placement
    )
    suite = run_pytest(
        ["-l", "--tb=long", str(REPO / "tests" / "test_app.py")], cwd=REPO, env=env
    )
    output = no_password(suite, wrong, status=1)
    assert re.search(r"\d+ errors?", output), output
    assert "refused the credentials" in output

    (tmp_path / "test_project.py").write_text(FAILING_TESTS)
    plugin = run_pytest(["-l", "--tb=long", "test_project.py"], cwd=tmp_path, env=env)
    output = no_password(plugin, wrong, status=1)
    assert "1 failed, 1 error" in output, output
    assert "password authentication failed" in output


def test_an_unreachable_server_fails_the_suite_without_showing_the_password(
    repo_project: Project,
) -> None:
    password = f"Unreach-{uuid.uuid4().hex[:12]}"
    env = repo_project.env(
        **placed(UNREACHABLE, user="bob", password=password, placement="url")
    )
    suite = run_pytest([str(REPO / "tests" / "test_app.py")], cwd=REPO, env=env)
    output = no_password(suite, password, status=1)
    assert "Cannot reach PostgreSQL at 127.0.0.1:1" in output
