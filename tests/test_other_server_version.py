"""The project on a second PostgreSQL version: the server binaries on the PATH.

The embedded server is PostgreSQL 18; machines that also carry another server
(Debian's PostgreSQL 15 here) run the history against it too. Everything up to
007 works there, including the safe operations and the batched backfill; 008
needs PostgreSQL 16 (``pg_input_is_valid``) and must refuse cleanly, leaving the
database at 007. Without another server on the PATH the test is skipped, and says
why.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from migrationkit.database import DatabaseTarget, UrlSource
from migrationkit.devserver.server import EmbeddedPostgres
from migrationkit.settings import Settings
from migrationkit.testing.server import TestServer
from tests.helpers import Project, copy_project


def other_server_binaries() -> Path | None:
    pg_ctl = shutil.which("pg_ctl")
    if pg_ctl is None:
        return None
    folder = Path(pg_ctl).resolve().parent
    return folder if (folder / "initdb").exists() else None


def major_version(binaries: Path) -> int:
    out = subprocess.run(
        [str(binaries / "pg_ctl"), "--version"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    found = re.search(r"\(PostgreSQL\) (\d+)", out)  # "pg_ctl (PostgreSQL) 15.18 ..."
    assert found is not None, out
    return int(found[1])


@pytest.fixture(scope="module")
def other_server() -> Iterator[TestServer]:
    binaries = other_server_binaries()
    if binaries is None:
        pytest.skip("no second PostgreSQL (pg_ctl, initdb) on the PATH")
    # outside pytest's temp tree, for the reason given in tests/test_embedded.py
    holder = Path(tempfile.mkdtemp(prefix="mk-other-pg-"))
    server = EmbeddedPostgres(holder / "pgdata", binaries=binaries)
    try:
        server.ensure_running()
        admin = DatabaseTarget(server.url("postgres"), UrlSource.EMBEDDED)
        yield TestServer(admin=admin, settings=Settings.from_environ({}))
    finally:
        server.destroy()  # in root mode: its system account and ACL entries too
        shutil.rmtree(holder, ignore_errors=True)


def test_history_up_to_007_then_a_clean_refusal(
    other_server: TestServer, tmp_path: Path
) -> None:
    binaries = other_server_binaries()
    assert binaries is not None
    major = major_version(binaries)
    with other_server.fresh_database() as target:
        project = Project(copy_project(tmp_path / "project"), target.secret_url())
        engine = other_server.engine(target)
        try:
            with engine.connect() as conn:
                version = conn.execute(sa.text("SHOW server_version_num"))
                assert int(version.scalar_one()) // 10000 == major

            up = project.alembic("upgrade", "002")
            assert up.returncode == 0, up.stdout + up.stderr
            with engine.begin() as conn:  # rows for the backfill in 003
                conn.execute(
                    sa.text(
                        "INSERT INTO users (id, email, is_active)"
                        " SELECT gen_random_uuid(), 'u' || g || '@example.org', true"
                        " FROM generate_series(1, 500) AS g"
                    )
                )
            up = project.alembic("upgrade", "007")
            assert up.returncode == 0, up.stdout + up.stderr
            with engine.begin() as conn:
                conn.execute(
                    sa.text(
                        "INSERT INTO login_events (user_id, ip_address)"
                        " SELECT id, '10.0.0.1' FROM users"
                    )
                )
                missing = conn.execute(
                    sa.text("SELECT count(*) FROM users WHERE username IS NULL")
                )
                assert missing.scalar_one() == 0
            head = project.alembic("upgrade", "head")
            if major >= 16:
                assert head.returncode == 0, head.stdout + head.stderr
                return
            assert head.returncode != 0
            assert "needs PostgreSQL 16 or newer" in head.stdout + head.stderr
            assert "Traceback" not in head.stderr
            current = project.alembic("current")
            assert "007" in current.stdout
            down = project.alembic("downgrade", "base")
            assert down.returncode == 0, down.stdout + down.stderr
        finally:
            engine.dispose()
