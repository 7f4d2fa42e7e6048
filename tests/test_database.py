"""Where the database comes from, and every way a bad one is reported.

Unit tests pin the URL rules, the ``Secret`` type and the masking of free text;
the rest run ``python -m alembic current`` against bad input and check what a
person would see: Alembic's ``FAILED:`` line naming the problem, the password
never shown, no traceback, and failure within the connect timeout.
"""

from __future__ import annotations

import importlib.util
import socket
import subprocess
import time
import traceback
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
)
from migrationkit.errors import (
    DatabaseConnectionError,
    DatabaseUrlError,
    MigrationKitError,
)
from migrationkit.masking import Secret, mask_secrets
from migrationkit.settings import Settings
from migrationkit.testing.server import TestServer
from migrationkit.urls import mask_url, parse_database_url
from tests.helpers import Project, Role, skip_unless_passwords_are_checked

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
        (f"postgresql://user:ab@{SECRET}/x@host/db", "percent-encoded"),
        (f"postgresql://user:ab@cd:{SECRET}@host/db", "percent-encoded"),
        (f"postgresql//app:{SECRET}@host/db", "the ':' after 'postgresql' is missing"),
        (f"postgresql:/app:{SECRET}@host/db", "one slash where two are expected"),
        (f"postgres:app:{SECRET}@host/db", "'postgres:' is not followed by '//'"),
        (f"app:{SECRET}@host/db", "does not start with a scheme"),
        (f"{SECRET}@host/db", "does not start with a scheme"),
        (f"host=h password = {SECRET}", "libpq keyword string (keys: host, password)"),
        (f"host=h password='Leak {SECRET}=1'", "(keys: host, password)"),
        (f"dbname=app user=u password={SECRET}", "(keys: dbname, user, password)"),
        (f"postgresql+nosuchdriver://u:{SECRET}@h/db", "SQLAlchemy does not know"),
        ("", "it is empty"),
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
    assert "Leak" not in message
    assert isinstance(caught.value, MigrationKitError)


def test_query_password_moves_out_of_the_query() -> None:
    url = parse_database_url(
        f"postgresql://u@h/db?password={SECRET}&sslmode=require", origin="x"
    )
    assert "password" not in url.query
    assert url.password == SECRET
    assert SECRET not in repr(url)
    assert url.query["sslmode"] == "require"


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
        (f"postgresql://u:ab@cd/{SECRET}@h/db", "postgresql://u:***@h/db"),
        (f"host=h password = {SECRET} user=u", "host=h password = *** user=u"),
        (f"host=h password='Leak {SECRET}' user=u", "host=h password=*** user=u"),
        (f"PGPASSWORD={SECRET} alembic", "PGPASSWORD=*** alembic"),
        (f"{{'user': 'u', 'password': '{SECRET}'}}", "{'user': 'u', 'password': ***}"),
        (
            f"ALTER ROLE app WITH LOGIN PASSWORD '{SECRET}' VALID UNTIL 'x'",
            "ALTER ROLE app WITH LOGIN PASSWORD *** VALID UNTIL 'x'",
        ),
        (
            f"create role a encrypted password '{SECRET}",
            "create role a encrypted password ***",
        ),
        (f"ALTER ROLE a PASSWORD $q${SECRET}$q$;", "ALTER ROLE a PASSWORD ***;"),
        (
            "password authentication failed for user",
            "password authentication failed for user",
        ),
        ("ALTER ROLE app PASSWORD NULL", "ALTER ROLE app PASSWORD NULL"),
    ],
)
def test_mask_secrets(text: str, expected: str) -> None:
    assert mask_secrets(text) == expected


def test_mask_secrets_hides_given_secrets_anywhere() -> None:
    text = f"server said: password authentication failed ({SECRET})"
    assert SECRET not in mask_secrets(text, SECRET, None)
    assert mask_secrets(text, None, "") == text


def test_secret_never_renders() -> None:
    value = f"never-{uuid.uuid4().hex}"
    secret = Secret(value)
    for rendering in (repr(secret), str(secret), f"{secret}", f"{secret!r:>40}"):
        assert value not in rendering
    assert secret.reveal() == value
    assert secret == Secret(value)
    assert not Secret("")


def test_every_secret_made_is_masked_wherever_it_turns_up() -> None:
    value = f"Rem3mber-{uuid.uuid4().hex[:8]}@/x"
    Secret(value)
    assert mask_secrets(f"host {value} said no") == "host *** said no"
    encoded = value.replace("@", "%40").replace("/", "%2F")
    assert mask_secrets(f"db {encoded}") == "db ***"
    # Whole tokens only: a short, common password must not mangle other words.
    Secret("post")
    assert mask_secrets("postgresql://u@h/db") == "postgresql://u@h/db"


def test_settings_and_targets_render_no_password() -> None:
    url = f"postgresql://u:{SECRET}@h/db?password={SECRET}x"
    settings = Settings.from_environ({"DATABASE_URL": url, "PGPASSWORD": SECRET})
    target = DatabaseTarget(parse_database_url(url, origin="x"), UrlSource.ENVIRONMENT)
    engine = create_engine(target, settings=settings)
    try:
        for shown in (settings, target, target.url, engine, target.masked):
            assert SECRET not in repr(shown), repr(shown)
            assert SECRET not in str(shown), str(shown)
    finally:
        engine.dispose()
    assert target.password == Secret(f"{SECRET}x")  # libpq: the query wins
    assert target.url.password is None
    assert target.masked == "postgresql://u:***@h/db"
    assert make_url(target.secret_url().reveal()).password == f"{SECRET}x"
    assert target.with_database("other").password == target.password


# -- connecting in-process -----------------------------------------------------------


def test_connect_refused_names_host_and_port() -> None:
    url = parse_database_url(f"postgresql://u:{SECRET}@127.0.0.1:1/db", origin="x")
    target = DatabaseTarget(url, UrlSource.ENVIRONMENT)
    engine = create_engine(target, settings=Settings(connect_timeout=3))
    with pytest.raises(DatabaseConnectionError) as caught:
        connect(engine, target)
    assert "127.0.0.1:1" in str(caught.value)
    assert SECRET not in str(caught.value)


def test_a_driver_failure_carries_neither_password_nor_driver_frames() -> None:
    url = parse_database_url(f"postgresql://u:{SECRET}@127.0.0.1:1/db", origin="x")
    target = DatabaseTarget(url, UrlSource.ENVIRONMENT)
    engine = create_engine(target, settings=Settings(connect_timeout=3))
    with pytest.raises(sa.exc.OperationalError) as caught:
        engine.connect()  # not through connect(): the engine itself is safe
    driver_error = caught.value.orig
    assert driver_error is not None
    assert driver_error.__context__ is None
    assert driver_error.__cause__ is None
    frames = traceback.extract_tb(driver_error.__traceback__)
    assert not any("psycopg" in frame.filename for frame in frames)
    rendered = "".join(traceback.format_exception(caught.value))
    assert SECRET not in rendered
    assert "Connection refused" in rendered


def test_a_missing_driver_is_one_clear_error() -> None:
    target = DatabaseTarget(
        make_url(f"postgresql+psycopg2://u:{SECRET}@h/db"), UrlSource.ENVIRONMENT
    )
    if importlib.util.find_spec("psycopg2") is not None:
        pytest.skip("psycopg2 is installed here, so it is not missing")
    with pytest.raises(DatabaseUrlError) as caught:
        create_engine(target, settings=Settings())
    assert str(caught.value).startswith(
        "The database URL from DATABASE_URL asks for the driver 'psycopg2' "
        "(postgresql+psycopg2://), but its module 'psycopg2' is not installed."
    )
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
        (f"postgresql//app:{SECRET}@host/db", "the ':' after 'postgresql' is missing"),
        (f"postgresql:/app:{SECRET}@host/db", "one slash where two are expected"),
        (f"app:{SECRET}@host/db", "does not start with a scheme"),
        (f"host=h password='Leak {SECRET}'", "libpq keyword string"),
        (f"postgresql://app:ab@{SECRET}/x@127.0.0.1:1/db", "percent-encoded"),
    ],
)
def test_malformed_database_url_fails_cleanly(
    repo_project: Project, url: str, expected: str
) -> None:
    result = repo_project.alembic("current", env=repo_project.env(DATABASE_URL=url))
    output = failed(result, "DATABASE_URL", expected)
    if "user:" in url:  # the URL is shown masked, or not at all
        assert "***" in output or "the value is not shown" in output


def test_unreachable_server_fails_fast(repo_project: Project) -> None:
    env = repo_project.env(
        DATABASE_URL=f"postgresql://app:{SECRET}@127.0.0.1:1/app",
        MIGRATIONKIT_CONNECT_TIMEOUT="5",
        MIGRATIONKIT_CONNECT_WAIT="0",  # one attempt (retrying: test_hosted.py)
    )
    # One attempt, refused at once: the message says so (no wall-clock bound,
    # which a loaded machine would break; the retry loop is test_hosted.py's).
    result = repo_project.alembic("current", env=env)
    failed(result, "Cannot reach PostgreSQL at 127.0.0.1:1", "DATABASE_URL")


def test_password_in_query_is_never_shown(repo_project: Project) -> None:
    env = repo_project.env(
        DATABASE_URL=f"postgresql://app@127.0.0.1:1/app?password={SECRET}",
        MIGRATIONKIT_CONNECT_WAIT="0",
    )
    output = failed(repo_project.alembic("current", env=env), "127.0.0.1:1")
    assert "postgresql://app:***@127.0.0.1:1/app" in output


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
    # It waited the two seconds asked for, then gave up (libpq's default would
    # have been to wait forever; the run's own 120 s limit would end the test).
    # Only the lower bound is asserted: a busy machine only adds time.
    assert elapsed >= 1.5, f"gave up after {elapsed:.1f}s, before the timeout"


def test_bad_connect_timeout_setting_is_explained(repo_project: Project) -> None:
    env = repo_project.env(MIGRATIONKIT_CONNECT_TIMEOUT="soon")
    failed(repo_project.alembic("current", env=env), "MIGRATIONKIT_CONNECT_TIMEOUT")


def test_wrong_password_is_refused_clearly(
    repo_project: Project,
    database: DatabaseTarget,
    server: TestServer,
    password_role: Role,
) -> None:
    wrong = database.url.set(username=password_role.name, password=SECRET)
    skip_unless_passwords_are_checked(server, wrong)

    url = wrong.render_as_string(hide_password=False)
    result = repo_project.alembic("current", env=repo_project.env(DATABASE_URL=url))
    failed(result, "refused the credentials", repr(password_role.name), "DATABASE_URL")

    # The same role with its real password gets in: the password was the problem.
    password = password_role.password.reveal()
    right = database.url.set(username=password_role.name, password=password)
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
    assert project.database_url is not None
    url = make_url(project.database_url.reveal())
    plain = url.set(drivername="postgresql").render_as_string(hide_password=False)
    assert plain.startswith("postgresql://")
    heroku_style = "postgres://" + plain.removeprefix("postgresql://")
    result = project.alembic(
        "upgrade", "head", env=project.env(DATABASE_URL=heroku_style)
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "users" in sa.inspect(engine).get_table_names()


def test_the_alembic_init_placeholder_says_to_remove_it(project: Project) -> None:
    """`alembic init` leaves sqlalchemy.url = driver://user:pass@localhost/dbname;
    the message says what that line is and what removing it gives."""
    ini = project.path / "alembic.ini"
    ini.write_text(
        ini.read_text().replace(
            "[alembic]\n",
            "[alembic]\nsqlalchemy.url = driver://user:pass@localhost/dbname\n",
            1,
        )
    )
    unconfigured = Project(project.path, None)
    output = failed(unconfigured.alembic("current"), "sqlalchemy.url in alembic.ini")
    assert "is still the placeholder `alembic init` writes" in output
    assert "Remove or comment out that line" in output
    assert "pass@" not in output
