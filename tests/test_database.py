"""Where the database comes from, and every way a bad one is reported.

Unit tests pin the URL rules and the masking of secrets; the rest run
``python -m alembic current`` against bad input and check what a person would
see: Alembic's ``FAILED:`` line naming the problem, the password never shown,
no traceback, and failure within the connect timeout.
"""

from __future__ import annotations

import socket
import subprocess
import time
import uuid
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from migrationkit.database import (
    DatabaseTarget,
    UrlSource,
    connect,
    create_engine,
    describe_location,
    mask_secrets,
    mask_url,
    parse_database_url,
)
from migrationkit.errors import (
    DatabaseConnectionError,
    DatabaseUrlError,
    MigrationKitError,
)
from migrationkit.settings import Settings
from migrationkit.testing.server import TestServer
from tests.helpers import Project

SECRET = "s3cret-Pw"


def failed(result: subprocess.CompletedProcess[str], *needles: str) -> str:
    """Alembic's rendering of an expected failure: FAILED, no traceback, no secret."""
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert "FAILED:" in result.stdout, output
    assert "Traceback" not in output, output
    assert SECRET not in output, f"password leaked:\n{output}"
    for needle in needles:
        assert needle in output, f"{needle!r} not in:\n{output}"
    return output


# -- parse_database_url --------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "driver"),
    [
        ("postgresql://u:pw@db.example:5432/app", "postgresql"),
        ("postgres://u:pw@db.example:5432/app", "postgresql"),
        ("postgresql+psycopg://u:pw@db.example/app", "postgresql+psycopg"),
        ("postgres+psycopg://u:pw@db.example/app", "postgresql+psycopg"),
        ("  postgresql://u@db.example/app  ", "postgresql"),
    ],
)
def test_parse_accepts_postgres_urls(raw: str, driver: str) -> None:
    url = parse_database_url(raw, origin="DATABASE_URL")
    assert url.drivername == driver
    assert url.database == "app"
    assert url.get_backend_name() == "postgresql"


def test_parse_keeps_socket_urls() -> None:
    url = parse_database_url(
        "postgresql://postgres@/app?host=/run/postgresql&port=5433",
        origin="DATABASE_URL",
    )
    assert url.query["host"] == "/run/postgresql"
    assert describe_location(url) == "socket /run/postgresql"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (f"postgresql://user:{SECRET}@host:notaport/db", "not a valid database URL"),
        ("not a url", "not a valid database URL"),
        (f"mysql://user:{SECRET}@host/db", "'mysql'"),
        ("sqlite:///app.db", "'sqlite'"),
        (f"postgresql://user:{SECRET}@host:5432/", "names no database"),
        (f"postgresql://user:{SECRET}@host:0/db", "outside 1-65535"),
        (f"postgresql://user:{SECRET}@host:70000/db", "outside 1-65535"),
        (f"postgresql://user:{SECRET}@x@host/db", "percent-encoded"),
    ],
)
def test_parse_rejects_bad_urls_without_showing_password(
    raw: str, expected: str
) -> None:
    with pytest.raises(DatabaseUrlError) as caught:
        parse_database_url(raw, origin="DATABASE_URL")
    message = str(caught.value)
    assert message.startswith("DATABASE_URL ")
    assert expected in message
    assert SECRET not in message
    assert isinstance(caught.value, MigrationKitError)


# -- masking -------------------------------------------------------------------------


def test_mask_url_hides_password_component_and_query_password() -> None:
    url = make_url(f"postgresql://u:{SECRET}@h/db")
    assert mask_url(url) == "postgresql://u:***@h/db"
    in_query = make_url(f"postgresql://u@h/db?password={SECRET}&sslmode=require")
    masked = mask_url(in_query)
    assert SECRET not in masked
    assert "sslmode=require" in masked
    assert mask_url(f"postgresql://u:{SECRET}@h/db") == "postgresql://u:***@h/db"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (f"postgresql://u:{SECRET}@h/db", "postgresql://u:***@h/db"),
        (f"see postgres://u:{SECRET}@h:5/d now", "see postgres://u:***@h:5/d now"),
        (f"postgresql://u:a@{SECRET}@h/db", "postgresql://u:***@h/db"),
        (f"postgresql://u:pa/{SECRET}@h/db", "postgresql://u:***@h/db"),
        (f"host=h password={SECRET} user=u", "host=h password=*** user=u"),
        (
            f"postgresql://h/d?password={SECRET}&x=1",
            "postgresql://h/d?password=***&x=1",
        ),
        ("postgresql://u@h/db?x=a@b", "postgresql://u@h/db?x=a@b"),
        ("postgresql://u:@h/db", "postgresql://u:@h/db"),
        ("no url here", "no url here"),
    ],
)
def test_mask_secrets(text: str, expected: str) -> None:
    assert mask_secrets(text) == expected


def test_mask_secrets_hides_given_secrets_anywhere() -> None:
    text = f"server said: password authentication failed ({SECRET})"
    assert SECRET not in mask_secrets(text, SECRET, None)
    assert mask_secrets(text, None, "") == text


# -- connecting in-process -----------------------------------------------------------


def test_connect_refused_names_host_and_port() -> None:
    url = parse_database_url(f"postgresql://u:{SECRET}@127.0.0.1:1/db", origin="x")
    target = DatabaseTarget(url, UrlSource.ENVIRONMENT)
    engine = create_engine(target, settings=Settings(connect_timeout=3))
    with pytest.raises(DatabaseConnectionError) as caught:
        connect(engine, target)
    assert "127.0.0.1:1" in str(caught.value)
    assert SECRET not in str(caught.value)


# -- bad input through the alembic command line --------------------------------------


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (f"postgresql://user:{SECRET}@host:notaport/db", "not a valid database URL"),
        ("not a url", "not a valid database URL"),
        (f"mysql://user:{SECRET}@host/db", "supports PostgreSQL only"),
        (f"postgresql://user:{SECRET}@x@127.0.0.1:1/db", "percent-encoded"),
        (f"postgresql://user:{SECRET}@127.0.0.1:1/db?bogus=1", "refused by the driver"),
    ],
)
def test_malformed_database_url_fails_cleanly(
    repo_project: Project, url: str, expected: str
) -> None:
    result = repo_project.alembic("current", env=repo_project.env(DATABASE_URL=url))
    output = failed(result, "DATABASE_URL", expected)
    if "user:" in url:
        assert "***" in output


def test_unreachable_server_fails_fast(repo_project: Project) -> None:
    env = repo_project.env(
        DATABASE_URL=f"postgresql://app:{SECRET}@127.0.0.1:1/app",
        MIGRATIONKIT_CONNECT_TIMEOUT="5",
        MIGRATIONKIT_CONNECT_WAIT="0",  # one attempt (retrying: test_hosted.py)
    )
    started = time.monotonic()
    result = repo_project.alembic("current", env=env)
    elapsed = time.monotonic() - started
    failed(result, "Cannot reach PostgreSQL at 127.0.0.1:1", "DATABASE_URL")
    assert elapsed < 10, f"took {elapsed:.1f}s to report a refused connection"


def test_password_in_query_is_never_shown(repo_project: Project) -> None:
    env = repo_project.env(
        DATABASE_URL=f"postgresql://app@127.0.0.1:1/app?password={SECRET}",
        MIGRATIONKIT_CONNECT_WAIT="0",
    )
    output = failed(repo_project.alembic("current", env=env), "127.0.0.1:1")
    assert "password=***" in output


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A TCP port that accepts connections and never says a word."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)  # the kernel completes handshakes; nobody answers
        yield listener.getsockname()[1]


def test_connect_timeout_is_honoured(repo_project: Project, silent_server: int) -> None:
    env = repo_project.env(
        DATABASE_URL=f"postgresql://app:{SECRET}@127.0.0.1:{silent_server}/app",
        MIGRATIONKIT_CONNECT_TIMEOUT="2",
        MIGRATIONKIT_CONNECT_WAIT="0",  # one attempt (retrying: test_hosted.py)
    )
    started = time.monotonic()
    result = repo_project.alembic("current", env=env)
    elapsed = time.monotonic() - started
    failed(result, f"127.0.0.1:{silent_server}", "timeout")
    # Two seconds of waiting plus interpreter start-up; libpq's default would
    # have been to wait forever.
    assert 1.5 < elapsed < 12, f"gave up after {elapsed:.1f}s"


def test_bad_connect_timeout_setting_is_explained(repo_project: Project) -> None:
    env = repo_project.env(MIGRATIONKIT_CONNECT_TIMEOUT="soon")
    failed(repo_project.alembic("current", env=env), "MIGRATIONKIT_CONNECT_TIMEOUT")


@pytest.fixture
def password_role(server: TestServer) -> Iterator[tuple[str, str]]:
    """A login role with a password, dropped afterwards."""
    role = f"mk_pw_{uuid.uuid4().hex[:10]}"
    password = f"right-{uuid.uuid4().hex}"
    admin = server.engine().execution_options(isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f"CREATE ROLE {role} LOGIN PASSWORD '{password}'"))
    try:
        yield role, password
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f"DROP ROLE IF EXISTS {role}"))
        admin.dispose()


def test_wrong_password_is_refused_clearly(
    repo_project: Project,
    database: DatabaseTarget,
    server: TestServer,
    password_role: tuple[str, str],
) -> None:
    role, password = password_role
    wrong = database.url.set(username=role, password=SECRET)
    probe = server.engine(wrong)
    try:
        with probe.connect():
            pytest.skip("this server lets the role in without checking its password")
    except sa.exc.OperationalError:
        pass
    finally:
        probe.dispose()

    url = wrong.render_as_string(hide_password=False)
    result = repo_project.alembic("current", env=repo_project.env(DATABASE_URL=url))
    failed(result, "refused the credentials", repr(role), "DATABASE_URL")

    # The same role with its real password gets in: the password was the problem.
    right = database.url.set(username=role, password=password)
    url = right.render_as_string(hide_password=False)
    ok = repo_project.alembic("current", env=repo_project.env(DATABASE_URL=url))
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert password not in ok.stdout + ok.stderr


def test_missing_database_is_named(repo_project: Project, server: TestServer) -> None:
    name = f"mk_absent_{uuid.uuid4().hex[:8]}"
    url = server.admin.url.set(database=name).render_as_string(hide_password=False)
    result = repo_project.alembic("current", env=repo_project.env(DATABASE_URL=url))
    failed(result, f"has no database {name!r}")


def test_unknown_revision_fails(project: Project) -> None:
    failed(
        project.alembic("upgrade", "nosuchrev"),
        "Can't locate revision identified by 'nosuchrev'",
    )


def test_postgres_scheme_is_accepted(project: Project, engine: sa.Engine) -> None:
    url = make_url(project.database_url or "")
    plain = url.set(drivername="postgresql").render_as_string(hide_password=False)
    assert plain.startswith("postgresql://")
    heroku_style = "postgres://" + plain.removeprefix("postgresql://")
    result = project.alembic(
        "upgrade", "head", env=project.env(DATABASE_URL=heroku_style)
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "users" in sa.inspect(engine).get_table_names()
