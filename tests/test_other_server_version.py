"""The project's history proven on a second PostgreSQL version (Debian's 15 here).

The embedded server is PostgreSQL 18; a machine that also carries another server's
binaries on its PATH starts a private one from them and proves the whole history
there with ``migrationkit prove``, data hooks included: revisions 008-010 convert
text to INET through ``inet_or_null``, which on PostgreSQL 15 (no
``pg_input_is_valid``) takes its exception-block path, and 009's data hook feeds
it addresses that are not addresses. Without another server on the PATH the test
is skipped, and says why.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from migrationkit.database import DatabaseTarget, UrlSource
from migrationkit.devserver.server import EmbeddedPostgres
from migrationkit.settings import Settings
from migrationkit.testing.server import TestServer
from tests.helpers import REPO, run_module

pytestmark = pytest.mark.slow  # servers, clusters or benchmarks of its own


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


def test_the_history_is_proven_on_the_other_server(
    other_server: TestServer, tmp_path: Path
) -> None:
    binaries = other_server_binaries()
    assert binaries is not None
    result = run_module(
        "migrationkit",
        "prove",
        "--hooks",
        "tests/test_history.py:DATA_HOOKS",
        cwd=REPO,
        database_url=other_server.admin.secret_url().reveal(),
        pgdata=tmp_path / "unused-pgdata",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    first = result.stdout.splitlines()[0]
    assert f"on PostgreSQL {major_version(binaries)}." in first, first
    assert "checks passed" in first, first
    assert not (tmp_path / "unused-pgdata").exists()
