"""Backups with pg_dump/pg_restore: they restore what was there, privately, quietly.

A backup taken by ``alembic -x backup=1 upgrade head`` is restored into a fresh
database and compared with the database as it was before the upgrade: the same
schema (PostgreSQL's catalogs) and the same rows (md5 of each table's rows in
order). The file is 0600; no password reaches the output; a server that cannot
be reached is one clear failure; a non-empty database is not restored over.
"""

from __future__ import annotations

import stat
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from benchmarks.zero_downtime.schema import schema_fingerprint
from migrationkit.backup import BackupToolError, find_tools
from migrationkit.backup.tools import server_major
from migrationkit.database import DatabaseTarget
from migrationkit.settings import Settings
from migrationkit.testing.pgbouncer import free_port
from migrationkit.testing.server import TestServer
from tests.helpers import Project, Role, ok, revision_ids

ROWS = 500


def state_of(engine: sa.Engine) -> dict[str, Any]:
    """The schema's fingerprint and an md5 of every public table's ordered rows."""
    with engine.connect() as conn:
        tables = conn.execute(
            sa.text(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
                "ORDER BY tablename"
            )
        ).scalars()
        checksums = {
            table: conn.execute(
                sa.text(
                    f"SELECT count(*), md5(coalesce(string_agg(t::text, '|' "
                    f"ORDER BY t::text), '')) FROM public.\"{table}\" t"
                )
            ).one()
            for table in list(tables)
        }
        driver = conn.connection.driver_connection
        schema = schema_fingerprint(driver)  # type: ignore[arg-type]
    return {"schema": schema, "rows": checksums}


def fill_users(engine: sa.Engine) -> None:
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO users (id, email, first_name, is_active)"
                " SELECT gen_random_uuid(), 'user' || g || '@example.com',"
                "        'name' || g, g % 3 <> 0"
                "   FROM generate_series(1, :rows) AS g"
            ),
            {"rows": ROWS},
        )


def test_a_backup_taken_before_upgrade_head_restores_the_same_schema_and_rows(
    project: Project, engine: sa.Engine, server: TestServer, tmp_path: Path
) -> None:
    ok(project.alembic("upgrade", revision_ids(project)[0]))
    fill_users(engine)
    before = state_of(engine)
    folder = tmp_path / "backups"
    run = ok(
        project.alembic(
            "-x", "backup=1", "-x", f"backup_dir={folder}", "upgrade", "head"
        )
    )
    assert "backup checked" in run.stderr, run.stderr
    (backup,) = folder.iterdir()
    assert stat.S_IMODE(backup.stat().st_mode) == 0o600
    assert state_of(engine) != before  # the upgrade changed it after the backup

    with server.fresh_database() as fresh:
        restored = project.call(
            "-m",
            "migrationkit",
            "restore",
            str(backup),
            env=project.env(DATABASE_URL=fresh.secret_url().reveal()),
        )
        ok(restored)
        copy = server.engine(fresh)
        try:
            assert state_of(copy) == before
        finally:
            copy.dispose()


def test_backup_file_is_private_and_restore_refuses_a_database_with_tables(
    project: Project, engine: sa.Engine, tmp_path: Path
) -> None:
    ok(project.alembic("upgrade", "head"))
    output = tmp_path / "b.dump"
    result = ok(project.call("-m", "migrationkit", "backup", "--output", str(output)))
    assert stat.S_IMODE(output.stat().st_mode) == 0o600
    assert "read back by pg_restore --list" in result.stdout

    again = project.call("-m", "migrationkit", "backup", "--output", str(output))
    assert again.returncode == 1
    assert "already exists" in again.stderr

    refused = project.call("-m", "migrationkit", "restore", str(output))
    assert refused.returncode == 1
    assert "FAILED:" in refused.stderr
    assert "--clean" in refused.stderr
    ok(project.call("-m", "migrationkit", "restore", "--clean", str(output)))


def test_no_password_is_printed(
    project: Project,
    database: DatabaseTarget,
    password_role: Role,
    tmp_path: Path,
) -> None:
    secret = password_role.password.reveal()
    url = database.url.set(username=password_role.name, password=secret)
    env = project.env(DATABASE_URL=url.render_as_string(hide_password=False))
    output = tmp_path / "role.dump"
    # A process of its own: what a real run prints, pg_dump's part included.
    result = project.run("-m", "migrationkit", "backup", "-o", str(output), env=env)
    combined = result.stdout + result.stderr
    assert secret not in combined
    ok(result)
    assert output.stat().st_size > 0


def test_an_unreachable_server_is_one_clear_failure_and_leaves_no_file(
    project: Project, tmp_path: Path
) -> None:
    secret = "Never-Shown-4711"
    url = f"postgresql://someone:{secret}@127.0.0.1:{free_port()}/nothing"
    output = tmp_path / "none.dump"
    result = project.run(
        "-m",
        "migrationkit",
        "backup",
        "-o",
        str(output),
        env=project.env(DATABASE_URL=url),
    )
    assert result.returncode == 1, result.stdout + result.stderr
    assert "FAILED: Cannot reach PostgreSQL at 127.0.0.1" in result.stderr
    assert "Traceback" not in result.stderr
    assert secret not in result.stdout + result.stderr
    assert not output.exists()


def test_tools_of_another_major_version_are_refused(
    server: TestServer, settings: Settings, tmp_path: Path
) -> None:
    major = server_major(server.admin, settings=settings)
    other = Path("/usr/lib/postgresql/15/bin")
    if major == 15 or not (other / "pg_dump").is_file():
        pytest.skip("needs PostgreSQL 15's tools and a server of another version")
    with pytest.raises(BackupToolError, match=f"runs PostgreSQL {major}.*another"):
        find_tools(major, folders=[other])
    with pytest.raises(BackupToolError, match="are not installed"):
        find_tools(major, folders=[tmp_path])
