"""Hosted PostgreSQL: which URL each side uses, pooled host names, waiting to connect.

In-process, against the test server (no pooler needed): DATABASE_URL_DIRECT
wins for migrations while the application keeps DATABASE_URL; Neon's and
Supabase's pooled host names are recognised and their direct ones are not;
connecting retries a server that does not answer, for a bounded time, and gives
up at once on what waiting cannot cure.
"""

from __future__ import annotations

import dataclasses
import logging
import re

import pytest
from sqlalchemy.engine import make_url

from migrationkit.database import (
    DatabaseTarget,
    UrlSource,
    configured_url,
    create_engine,
    resolve_application_database,
)
from migrationkit.errors import DatabaseConnectionError, MigrationKitError
from migrationkit.hosted import connect_retry_delay, pooler_host, wait_for_server
from migrationkit.masking import Secret
from migrationkit.settings import Settings
from migrationkit.testing.pgbouncer import LoginRole, free_port
from migrationkit.urls import parse_database_url
from service.database import create_application_engine

SECRET = "hosted-Secret-9"  # a made-up password that must never show
POOLED = f"postgresql://app:{SECRET}@ep-x-1-pooler.eu-central-1.aws.neon.tech/app"
DIRECT = f"postgresql://app:{SECRET}@ep-x-1.eu-central-1.aws.neon.tech/app"


def test_migrations_use_the_direct_url_and_the_application_the_pooled_one() -> None:
    settings = Settings(database_url=Secret(POOLED), database_url_direct=Secret(DIRECT))
    migrations = configured_url(settings=settings, config=None)
    assert migrations is not None
    assert migrations.source is UrlSource.ENVIRONMENT_DIRECT
    assert migrations.url.host == "ep-x-1.eu-central-1.aws.neon.tech"
    application = resolve_application_database(settings=settings, config=None)
    assert application.source is UrlSource.ENVIRONMENT
    assert application.url.host == "ep-x-1-pooler.eu-central-1.aws.neon.tech"


def test_without_a_direct_url_both_use_database_url() -> None:
    settings = Settings(database_url=Secret(DIRECT))
    migrations = configured_url(settings=settings, config=None)
    application = resolve_application_database(settings=settings, config=None)
    assert migrations is not None
    assert migrations.url == application.url


def test_settings_read_the_direct_url_and_the_connect_wait() -> None:
    settings = Settings.from_environ(
        {"DATABASE_URL_DIRECT": DIRECT, "MIGRATIONKIT_CONNECT_WAIT": "2min"}
    )
    assert settings.database_url_direct is not None
    assert settings.database_url_direct.reveal() == DIRECT
    assert settings.connect_wait == 120
    assert Settings.from_environ({}).connect_wait == 30
    with pytest.raises(MigrationKitError, match="MIGRATIONKIT_CONNECT_WAIT"):
        Settings.from_environ({"MIGRATIONKIT_CONNECT_WAIT": "30"})  # no unit


@pytest.mark.parametrize(
    ("url", "provider"),
    [
        (POOLED, "Neon"),
        (f"{POOLED}?sslmode=require&channel_binding=require", "Neon"),
        ("postgresql://u@ep-a-2-pooler.us-east-2.aws.neon.tech/db", "Neon"),
        (
            "postgresql://u@aws-0-eu-west-1.pooler.supabase.com:6543/postgres",
            "Supabase",
        ),
        (DIRECT, None),
        ("postgresql://u@aws-0-eu-west-1.pooler.supabase.com:5432/postgres", None),
        ("postgresql://u@db.example.com/pooler", None),
        ("postgresql://u@/db?host=/run/postgresql", None),
    ],
)
def test_pooled_hosts_are_known_by_name(url: str, provider: str | None) -> None:
    rule = pooler_host(make_url(url))
    assert (rule.provider if rule else None) == provider


def test_backoff_grows_is_jittered_and_capped() -> None:
    for attempt in range(1, 12):
        ceiling = min(5.0, 0.5 * 2 ** (attempt - 1))
        delays = {connect_retry_delay(attempt) for _ in range(20)}
        assert all(ceiling / 2 <= delay <= ceiling for delay in delays)
        assert len(delays) > 1  # jittered


def _target(raw: str) -> DatabaseTarget:
    return DatabaseTarget(
        parse_database_url(raw, origin="DATABASE_URL"), UrlSource.ENVIRONMENT
    )


def test_a_server_that_never_answers_is_retried_then_given_up() -> None:
    target = _target(f"postgresql://app:{SECRET}@127.0.0.1:{free_port()}/app")
    settings = Settings(connect_timeout=2, connect_wait=1.5)
    engine = create_engine(target, settings=settings)
    with pytest.raises(DatabaseConnectionError) as caught:
        wait_for_server(engine, target, settings=settings)
    message = str(caught.value)
    assert "Cannot reach PostgreSQL at 127.0.0.1:" in message
    assert "Gave up after" in message
    assert "MIGRATIONKIT_CONNECT_WAIT" in message
    assert SECRET not in message


def test_wrong_credentials_are_not_retried(
    database: DatabaseTarget, role: LoginRole
) -> None:
    """Waiting cannot fix a password: the first refusal is the answer."""
    wrong = LoginRole(role.name, f"not-{role.password}")
    target = DatabaseTarget(wrong.url(database.url), UrlSource.ENVIRONMENT)
    settings = Settings(connect_wait=600)
    engine = create_engine(target, settings=settings)
    with pytest.raises(DatabaseConnectionError) as caught:
        wait_for_server(engine, target, settings=settings)
    assert "refused the credentials" in str(caught.value)
    assert "Gave up after" not in str(caught.value)
    assert wrong.password not in str(caught.value)


def test_a_reachable_server_connects_at_once(database: DatabaseTarget) -> None:
    settings = Settings()
    engine = create_engine(database, settings=settings)
    try:
        with wait_for_server(engine, database, settings=settings) as connection:
            assert connection.exec_driver_sql("SELECT 1").scalar_one() == 1
    finally:
        engine.dispose()


def test_a_url_naming_no_driver_connects_through_psycopg_3(
    database: DatabaseTarget,
) -> None:
    """``postgresql://`` means psycopg 3 whichever SQLAlchemy is installed (2.0
    would pick psycopg2), and the service's pooled engine then turns off
    server-side prepared statements, which a transaction pooler breaks."""
    bare = dataclasses.replace(database, url=database.url.set(drivername="postgresql"))
    settings = Settings()
    for engine in (
        create_engine(bare, settings=settings),
        create_application_engine(bare, settings=settings),
    ):
        try:
            assert engine.dialect.driver == "psycopg"
            with engine.connect() as conn:
                assert conn.exec_driver_sql("SELECT 1").scalar_one() == 1
                raw = conn.connection.driver_connection
                prepared = getattr(raw, "prepare_threshold", "missing")
        finally:
            engine.dispose()
    assert prepared is None  # the application engine, checked last


def test_the_same_failure_again_is_logged_at_2_4_8_attempts_not_each(
    caplog: pytest.LogCaptureFixture,
) -> None:
    target = _target(f"postgresql://app:{SECRET}@127.0.0.1:{free_port()}/app")
    settings = Settings(connect_timeout=1, connect_wait=4.0)
    engine = create_engine(target, settings=settings)
    with (
        caplog.at_level(logging.WARNING, logger="migrationkit.hosted"),
        pytest.raises(DatabaseConnectionError) as caught,
    ):
        wait_for_server(engine, target, settings=settings)
    gave_up = re.search(r"Gave up after (\d+) attempts", str(caught.value))
    assert gave_up is not None, caught.value
    attempts = int(gave_up[1])
    lines = [record.getMessage() for record in caplog.records]
    assert lines[0].startswith("not connected yet (attempt 1): Cannot reach")
    assert all(line.startswith("still not connected after") for line in lines[1:])
    expected = [n for n in range(2, attempts) if n & (n - 1) == 0]
    assert [int(line.split()[4]) for line in lines[1:]] == expected
    assert all(SECRET not in line for line in lines)
