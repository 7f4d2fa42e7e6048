"""``python -m migrationkit``: every command has help, and errors read as errors.

Every test points ``MIGRATIONKIT_PGDATA`` at its own temporary folder, so no
command here can touch the project's shared embedded server.

The commands run in this process (``main(argv)`` with the environment, working
folder, stdout, stderr and logging a process would have: tests/in_process.py);
the tests of what only a process shows (the console script, a ``--debug``
traceback) start ``migrationkit`` as a real process.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

from migrationkit.cli.main import build_parser, main
from migrationkit.errors import MigrationInterrupted
from migrationkit.exits import report_failures
from tests.apphelpers import alembic, verify_script
from tests.helpers import Project
from tests.in_process import run_main

PROGRAM = ("migrationkit",)
CONSOLE_SCRIPT = Path(sys.executable).with_name("migrationkit")
"""The ``migrationkit`` console script installed beside this interpreter."""


def all_commands() -> list[tuple[tuple[str, ...], argparse.ArgumentParser]]:
    """Every (sub)command the parser knows, found by walking it: new ones count."""
    found: list[tuple[tuple[str, ...], argparse.ArgumentParser]] = []

    def walk(words: tuple[str, ...], parser: argparse.ArgumentParser) -> None:
        found.append((words, parser))
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, child in action.choices.items():
                    walk((*words, name), child)

    walk((), build_parser())
    return found


COMMANDS = all_commands()


def cli_env(pgdata: Path, **extra_env: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DATABASE_URL")}
    env["MIGRATIONKIT_PGDATA"] = str(pgdata)
    env.update(extra_env)
    return env


def run_cli(
    *args: str, pgdata: Path, cwd: Path, **extra_env: str
) -> subprocess.CompletedProcess[str]:
    """``migrationkit <args>``, run in this process."""
    return run_main(
        main, args, cwd=cwd, env=cli_env(pgdata, **extra_env), program=PROGRAM
    )


def run_cli_process(
    *argv: str, pgdata: Path, cwd: Path, **extra_env: str
) -> subprocess.CompletedProcess[str]:
    """``argv`` (a console script or ``python -m migrationkit ...``) as a process."""
    return subprocess.run(
        argv,
        cwd=cwd,
        env=cli_env(pgdata, **extra_env),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def in_project(
    project: Project, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """``python -m migrationkit <args>`` in the project, run in this process."""
    environ = env if env is not None else project.env()
    return run_main(main, args, cwd=project.path, env=environ, program=PROGRAM)


def run_verify_script(project: Project, *args: str) -> subprocess.CompletedProcess[str]:
    """``python verify_migration.py <args>`` in the project, run in this process."""
    return run_main(
        verify_script(project.path),
        args,
        cwd=project.path,
        env=project.env(),
        program=("verify_migration.py",),
    )


def migrated(project: Project, *steps: tuple[str, str]) -> None:
    """Run Alembic commands (``("upgrade", "head")``, ...) on the project's database."""
    assert project.database_url is not None
    for name, revision in steps:
        alembic(project.path, project.database_url, name, revision)


def test_the_walk_finds_the_db_actions() -> None:
    names = {words for words, _ in COMMANDS}
    assert {("db",), ("db", "start"), ("db", "stop"), ("db", "status")} <= names
    assert {("db", "url"), ("db", "destroy")} <= names


@pytest.mark.parametrize(
    ("words", "parser"), COMMANDS, ids=[" ".join(w) or "top" for w, _ in COMMANDS]
)
def test_every_command_has_help(
    words: tuple[str, ...], parser: argparse.ArgumentParser, tmp_path: Path
) -> None:
    assert parser.description, f"`{' '.join(words)}` has no description"
    result = run_cli(*words, "--help", pgdata=tmp_path / "pgdata", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("usage: migrationkit")
    # argparse wraps long descriptions; compare word by word.
    assert " ".join(parser.description.split()) in " ".join(result.stdout.split())
    assert not (tmp_path / "pgdata").exists(), "--help must not prepare a server"


def test_no_command_is_a_usage_error(tmp_path: Path) -> None:
    """Through the console script, as a process: the entry point itself works."""
    assert CONSOLE_SCRIPT.is_file(), "migrationkit is not installed in this venv"
    result = run_cli_process(
        str(CONSOLE_SCRIPT), pgdata=tmp_path / "pgdata", cwd=tmp_path
    )
    assert result.returncode == 2
    assert "usage:" in result.stderr


def test_status_of_a_server_that_was_never_started(tmp_path: Path) -> None:
    pgdata = tmp_path / "pgdata"
    result = run_cli("db", "status", pgdata=pgdata, cwd=tmp_path)
    assert result.returncode == 3, result.stdout + result.stderr
    assert result.stdout.startswith("stopped")
    assert str(pgdata / "data") in result.stdout


def test_stop_when_nothing_runs_is_harmless(tmp_path: Path) -> None:
    result = run_cli("db", "stop", pgdata=tmp_path / "pgdata", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "was not running" in result.stdout


def test_destroy_when_nothing_exists_is_harmless(tmp_path: Path) -> None:
    pgdata = tmp_path / "pgdata"
    result = run_cli("db", "destroy", pgdata=pgdata, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"Nothing to destroy: {pgdata} does not exist\n"
    assert not pgdata.exists()


def test_pgdata_that_is_a_symlink_is_refused(tmp_path: Path) -> None:
    target = tmp_path / "elsewhere"
    target.mkdir()
    (tmp_path / "pgdata").symlink_to(target)
    for action in ("start", "status", "stop", "destroy"):
        result = run_cli("db", action, pgdata=tmp_path / "pgdata", cwd=tmp_path)
        assert result.returncode == 1, (action, result.stdout + result.stderr)
        assert result.stderr.startswith("FAILED: Cannot keep the embedded server in")
        assert "symbolic link" in result.stderr
        assert "Traceback" not in result.stderr
    assert list(target.iterdir()) == []


def test_bad_setting_renders_as_error(tmp_path: Path) -> None:
    result = run_cli(
        "db",
        "status",
        pgdata=tmp_path / "pgdata",
        cwd=tmp_path,
        MIGRATIONKIT_CONNECT_TIMEOUT="soon",
    )
    assert result.returncode == 1
    assert result.stderr.startswith("FAILED: MIGRATIONKIT_CONNECT_TIMEOUT='soon'")
    assert "Traceback" not in result.stderr


def test_pgdata_that_is_a_file_renders_as_error(tmp_path: Path) -> None:
    not_a_folder = tmp_path / "pgdata"
    not_a_folder.write_text("I am a file\n")
    result = run_cli("db", "start", pgdata=not_a_folder, cwd=tmp_path)
    assert result.returncode == 1, result.stdout + result.stderr
    assert result.stderr.startswith("FAILED: Cannot keep the embedded server in")
    assert "MIGRATIONKIT_PGDATA" in result.stderr
    assert "Traceback" not in result.stderr


def test_foreign_files_in_data_folder_are_left_alone(tmp_path: Path) -> None:
    pgdata = tmp_path / "pgdata"
    (pgdata / "data").mkdir(parents=True)
    keep = pgdata / "data" / "notes.txt"
    keep.write_text("not a cluster\n")
    result = run_cli("db", "start", pgdata=pgdata, cwd=tmp_path)
    assert result.returncode == 1, result.stdout + result.stderr
    assert result.stderr.startswith("FAILED: ")
    assert "holds files but no PostgreSQL cluster" in result.stderr
    assert "Traceback" not in result.stderr
    assert keep.read_text() == "not a cluster\n"
    assert sorted(p.name for p in (pgdata / "data").iterdir()) == ["notes.txt"]


def test_debug_shows_the_traceback(tmp_path: Path) -> None:
    """The traceback is the interpreter's, so this runs as a process."""
    result = run_cli_process(
        sys.executable,
        "-m",
        "migrationkit",
        "--debug",
        "db",
        "status",
        pgdata=tmp_path / "pgdata",
        cwd=tmp_path,
        MIGRATIONKIT_CONNECT_TIMEOUT="soon",
    )
    assert result.returncode == 1
    assert "Traceback" in result.stderr
    assert "MigrationKitError" in result.stderr


# -- the one error path, in-process ------------------------------------------------


def test_a_database_error_outside_a_migration_is_one_paragraph(
    engine: sa.Engine, capsys: pytest.CaptureFixture[str]
) -> None:
    def query_a_missing_table() -> int:
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT * FROM no_such_table WHERE x = :v"), {"v": 1})
        return 0

    assert report_failures(query_a_missing_table, debug=False) == 1
    err = capsys.readouterr().err
    refused = 'relation "no_such_table" does not exist (SQLSTATE 42P01).'
    assert err.splitlines() == [
        f"FAILED: PostgreSQL refused: {refused}",
        "Statement: SELECT * FROM no_such_table WHERE x = %(v)s",
    ]
    with pytest.raises(sa.exc.ProgrammingError):
        report_failures(query_a_missing_table, debug=True)


def test_ctrl_c_exits_130_with_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    def interrupted() -> int:
        raise KeyboardInterrupt

    assert report_failures(interrupted, debug=False) == 130
    assert capsys.readouterr().err == "FAILED: Interrupted (Ctrl-C).\n"


def test_an_interrupted_migration_exits_130_with_its_own_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    line = "Interrupted (Ctrl-C) during migration upgrade a -> b: ..."

    def interrupted_migration() -> int:
        raise MigrationInterrupted(line, step="upgrade a -> b")

    assert report_failures(interrupted_migration, debug=False) == 130
    assert capsys.readouterr().err == f"FAILED: {line}\n"


def test_alembic_progress_lines_only_with_verbose(project: Project) -> None:
    quiet = in_project(project, "verify")
    assert quiet.returncode == 1, quiet.stderr  # never migrated: a failed check
    assert "never migrated" in quiet.stdout
    for chatter in ("Context impl", "Will assume transactional DDL", "Detected added"):
        assert chatter not in quiet.stderr, quiet.stderr
    verbose = in_project(project, "-v", "verify")
    assert verbose.returncode == 1, verbose.stderr
    assert "Context impl PostgresqlImpl" in verbose.stderr
    script = run_verify_script(project)
    assert "Context impl" not in script.stderr, script.stderr
    assert "Context impl" in run_verify_script(project, "-v").stderr


def test_debug_verify_shows_the_traceback_of_an_unreachable_database(
    project: Project,
) -> None:
    secret = "Tr4ceback-pw"
    env = project.env(DATABASE_URL=f"postgresql://app:{secret}@127.0.0.1:1/app")
    plain = in_project(project, "verify", env=env)
    assert plain.returncode == 1
    assert "Traceback" not in plain.stderr
    assert "FAIL  connectivity" in plain.stdout
    # the traceback is the interpreter's: a real process
    debug = project.run("-m", "migrationkit", "--debug", "verify", env=env)
    assert debug.returncode == 1
    assert "Traceback (most recent call last)" in debug.stderr
    assert "DatabaseConnectionError: Cannot reach PostgreSQL at 127.0.0.1:1" in (
        debug.stderr
    )
    assert secret not in debug.stdout + debug.stderr


def test_verify_without_model_checks_says_skipped_never_passed(
    project: Project,
) -> None:
    migrated(project, ("upgrade", "head"))
    result = in_project(project, "verify")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SKIP  model functionality: not run" in result.stdout
    assert "PASS  model functionality" not in result.stdout
    assert re.search(r"OK: (\d+) of \d+ checks passed, 1 skipped", result.stdout)
    document = json.loads(in_project(project, "verify", "--json").stdout)
    by_name = {check["name"]: check for check in document["checks"]}
    assert by_name["model_functionality"]["skipped"] is True
    assert by_name["revision"]["skipped"] is False


def test_a_command_run_in_process_leaves_alembics_logging_as_it_was(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Hiding Alembic's chatter lasts the command only: a test run alongside in
    the same process (tests/test_resume.py listens for "Running upgrade") must
    still hear Alembic."""
    monkeypatch.setenv("MIGRATIONKIT_PGDATA", str(tmp_path / "pgdata"))
    migration_logger = logging.getLogger("alembic.runtime.migration")
    before = list(migration_logger.filters)
    assert main(["db", "status"]) == 3  # nothing there: stopped
    assert migration_logger.filters == before


def test_after_stamp_base_on_a_migrated_database_verify_suggests_stamp(
    project: Project,
) -> None:
    migrated(project, ("upgrade", "head"), ("stamp", "base"))
    result = in_project(project, "verify")
    assert result.returncode == 1
    assert "the version table is empty, yet the database has tables" in result.stdout
    assert "alembic stamp <revision>" in result.stdout
