"""Every Alembic command the guide shows, run for real in a copy of this project.

Each test runs Alembic's command line (``python -m alembic``, in the test process:
``Project.alembic``; ``init`` in a process of its own) against a fresh PostgreSQL
database (the ``project`` fixture), and checks both what the command printed and
what it did to the database. The revision history is read from the copy's
``ScriptDirectory``, so these tests follow the history as it grows instead of
assuming which revisions exist.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import sqlalchemy as sa
from alembic.config import Config
from alembic.script import ScriptDirectory

from migrationkit.devserver.server import EmbeddedPostgres
from migrationkit.testing.server import TestServer
from tests.helpers import REPO, Project, copy_project

NEW_COLUMN = "nickname"
NEW_COLUMN_LINE = (
    f"    {NEW_COLUMN}: Mapped[str | None] = mapped_column(String(50), nullable=True)"
)


# -- helpers -------------------------------------------------------------------------


def succeeded(result: subprocess.CompletedProcess[str]) -> str:
    """Assert the command exited 0; return its stdout."""
    assert result.returncode == 0, (
        f"{result.args} exited {result.returncode}\n"
        f"--- stdout\n{result.stdout}\n--- stderr\n{result.stderr}"
    )
    return result.stdout


def failed(result: subprocess.CompletedProcess[str], *needles: str) -> str:
    """Assert Alembic's own failure rendering (no traceback); return all output.

    Alembic renders a ``CommandError`` as ``FAILED: <message>`` and exits with
    ``sys.exit(-1)``, which the shell sees as 255.
    """
    output = result.stdout + result.stderr
    assert result.returncode != 0, f"{result.args} should have failed:\n{output}"
    assert "FAILED:" in output, output
    assert "Traceback" not in output, output
    for needle in needles:
        assert needle in output, f"{needle!r} not in:\n{output}"
    return output


def script_directory(project: Project) -> ScriptDirectory:
    return ScriptDirectory.from_config(Config(str(project.path / "alembic.ini")))


def linear_history(project: Project) -> list[str]:
    """Revision ids from base to head; the project's history has one branch."""
    script = script_directory(project)
    assert len(script.get_heads()) == 1, f"expected one head: {script.get_heads()}"
    return [rev.revision for rev in reversed(list(script.walk_revisions()))]


def versions(engine: sa.Engine) -> set[str]:
    """The database's current revisions, read from alembic_version itself."""
    if "alembic_version" not in sa.inspect(engine).get_table_names():
        return set()
    with engine.connect() as conn:
        return set(
            conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalars()
        )


LEDGER_TABLES = {"alembic_version_ledger", "alembic_version_ledger_progress"}
"""migrationkit's ledger (docs/ledger.md), kept beside the version table."""


def tables(engine: sa.Engine) -> set[str]:
    return set(sa.inspect(engine).get_table_names()) - LEDGER_TABLES


def columns(engine: sa.Engine, table: str) -> set[str]:
    return {column["name"] for column in sa.inspect(engine).get_columns(table)}


def listed_revisions(history_output: str) -> list[str]:
    """The revision each ``alembic history`` line introduces (``down -> rev, msg``)."""
    return re.findall(r"-> ([^\s,]+)", history_output)


def add_model_column(project: Project) -> None:
    """Add a nullable column to the copied User model (never the repo's)."""
    user_py = project.path / "models" / "user.py"
    source = user_py.read_text()
    anchor = '    __tablename__ = "users"\n'
    assert anchor in source, "models/user.py no longer declares the users table"
    user_py.write_text(source.replace(anchor, f"{anchor}\n{NEW_COLUMN_LINE}\n"))


def use_repo_lint_config(project: Project) -> None:
    """Let ruff and mypy (and the post-write hooks) see the repo's settings."""
    shutil.copy2(REPO / "pyproject.toml", project.path / "pyproject.toml")


def assert_lint_clean(project: Project, path: Path) -> None:
    """A generated revision passes ruff check, ruff format and mypy --strict."""
    for command in (
        ["-m", "ruff", "check", str(path)],
        ["-m", "ruff", "format", "--check", str(path)],
        ["-m", "mypy", "--strict", "--no-incremental", str(path)],
    ):
        succeeded(project.run(*command, timeout=300))


def new_head(project: Project) -> tuple[str, Path]:
    script = script_directory(project)
    head = script.get_current_head()
    assert head is not None
    revision = script.get_revision(head)
    assert revision is not None
    return head, Path(revision.path)


# -- init ----------------------------------------------------------------------------


def test_init_creates_environment_in_empty_folder(tmp_path: Path) -> None:
    """The guide's first command, in a process of its own: the one end-to-end run
    of ``python -m alembic`` here (the other tests run it in-process)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DATABASE_URL")}
    result = subprocess.run(
        [sys.executable, "-m", "alembic", "init", "alembic"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    succeeded(result)
    assert (tmp_path / "alembic.ini").is_file()
    assert (tmp_path / "alembic" / "env.py").is_file()
    assert (tmp_path / "alembic" / "script.py.mako").is_file()
    assert (tmp_path / "alembic" / "versions").is_dir()


# -- reading the state ---------------------------------------------------------------


def test_current_shows_nothing_then_head(project: Project, engine: sa.Engine) -> None:
    head = linear_history(project)[-1]
    assert succeeded(project.alembic("current")).strip() == ""
    succeeded(project.alembic("upgrade", "head"))
    assert f"{head} (head)" in succeeded(project.alembic("current"))
    assert versions(engine) == {head}


def test_history_lists_every_revision(project: Project) -> None:
    history = linear_history(project)
    output = succeeded(project.alembic("history"))
    assert sorted(listed_revisions(output)) == sorted(history)
    assert "<base> -> " in output


def test_history_relative_to_current(project: Project) -> None:
    history = linear_history(project)
    succeeded(project.alembic("upgrade", "head"))
    listed = listed_revisions(succeeded(project.alembic("history", "-r-3:current")))
    # Three steps back from current, both ends included: four revisions.
    assert sorted(listed) == sorted(history[-4:]), (listed, history)


def test_show_describes_a_revision(project: Project) -> None:
    history = linear_history(project)
    head = history[-1]
    output = succeeded(project.alembic("show", head))
    assert f"Rev: {head} (head)" in output
    assert "Path: " in output
    first = succeeded(project.alembic("show", history[0]))
    assert "Parent: <base>" in first


# -- creating revisions --------------------------------------------------------------


def test_revision_empty_is_named_and_lint_clean(project: Project) -> None:
    use_repo_lint_config(project)
    old_head = linear_history(project)[-1]
    succeeded(project.alembic("revision", "-m", "Add audit notes"))
    head, path = new_head(project)
    assert head != old_head
    assert path.name == f"{head}_add_audit_notes.py"
    revision = script_directory(project).get_revision(head)
    assert revision is not None
    assert revision.down_revision == old_head
    assert_lint_clean(project, path)


def test_revision_with_fixed_id(project: Project) -> None:
    old_head = linear_history(project)[-1]
    succeeded(project.alembic("revision", "--rev-id=900", "-m", "Pinned id"))
    head, path = new_head(project)
    assert head == "900"
    assert path.name == "900_pinned_id.py"
    assert linear_history(project)[-2] == old_head


def test_revision_autogenerate_picks_up_model_change(
    project: Project, engine: sa.Engine
) -> None:
    use_repo_lint_config(project)
    succeeded(project.alembic("upgrade", "head"))
    add_model_column(project)
    succeeded(project.alembic("revision", "--autogenerate", "-m", "Add nickname"))
    head, path = new_head(project)
    source = path.read_text()
    assert "op.add_column(" in source
    assert f'"{NEW_COLUMN}"' in source
    assert "op.drop_column(" in source
    assert_lint_clean(project, path)

    succeeded(project.alembic("upgrade", "head"))
    assert versions(engine) == {head}
    assert NEW_COLUMN in columns(engine, "users")
    succeeded(project.alembic("check"))


# -- moving between revisions --------------------------------------------------------


def test_upgrade_head_then_downgrade_base(project: Project, engine: sa.Engine) -> None:
    head = linear_history(project)[-1]
    succeeded(project.alembic("upgrade", "head"))
    assert versions(engine) == {head}
    assert "users" in tables(engine)

    succeeded(project.alembic("downgrade", "base"))
    assert versions(engine) == set()
    assert tables(engine) == {"alembic_version"}, "downgrade base left tables"


def test_upgrade_and_downgrade_to_named_revision(
    project: Project, engine: sa.Engine
) -> None:
    history = linear_history(project)
    first, head = history[0], history[-1]
    succeeded(project.alembic("upgrade", first))
    assert versions(engine) == {first}
    assert "users" in tables(engine)

    succeeded(project.alembic("upgrade", head))
    assert versions(engine) == {head}
    succeeded(project.alembic("downgrade", first))
    assert versions(engine) == {first}
    assert succeeded(project.alembic("current")).split()[0] == first


def test_relative_upgrade_and_downgrade(project: Project, engine: sa.Engine) -> None:
    history = linear_history(project)
    succeeded(project.alembic("upgrade", "+1"))
    assert versions(engine) == {history[0]}
    succeeded(project.alembic("downgrade", "-1"))
    assert versions(engine) == set()

    # The guide's `upgrade +2`: two steps when the history has them, and
    # Alembic's own explanation (and no change) when it does not.
    result = project.alembic("upgrade", "+2")
    if len(history) >= 2:
        succeeded(result)
        assert versions(engine) == {history[1]}
        succeeded(project.alembic("downgrade", "-1"))
        assert versions(engine) == {history[0]}
    else:
        failed(result, "Relative revision +2 didn't produce 2 migrations")
        assert versions(engine) == set()


def test_downgrade_below_base_is_refused(project: Project, engine: sa.Engine) -> None:
    failed(project.alembic("downgrade", "-1"), "didn't produce 1 migrations")
    assert versions(engine) == set()


# -- offline SQL ---------------------------------------------------------------------


def test_upgrade_head_sql_needs_no_database(tmp_path: Path) -> None:
    path = copy_project(tmp_path / "offline")
    offline = Project(path, None)
    env = offline.env()
    env.pop("MIGRATIONKIT_PGDATA", None)
    try:
        result = offline.alembic("upgrade", "head", "--sql", env=env)
        sql = succeeded(result)
        assert re.search(r"CREATE TABLE users \(", sql), sql
        assert "started the embedded" not in result.stderr
        assert not (path / ".pgdata").exists(), "--sql prepared an embedded server"
        # A URL nobody answers on is fine too: offline mode never connects.
        dead = offline.env(DATABASE_URL="postgresql://app:pw@127.0.0.1:1/app")
        assert succeeded(offline.alembic("upgrade", "head", "--sql", env=dead)) == sql
    finally:
        if (path / ".pgdata").exists():
            EmbeddedPostgres(path / ".pgdata").destroy()


def test_upgrade_sql_to_file_is_pure_sql(project: Project, engine: sa.Engine) -> None:
    """``upgrade head --sql > migration.sql``: logs on stderr, SQL on stdout."""
    history = linear_history(project)
    result = project.alembic("upgrade", "head", "--sql")
    sql = succeeded(result)
    assert "Generating static SQL" in result.stderr
    assert sql.lstrip().startswith("BEGIN;"), sql[:200]
    assert "INFO" not in sql
    assert "[alembic" not in sql

    # What the file holds is a deployable script: applied statement by statement
    # (as psql would; CREATE INDEX CONCURRENTLY cannot share a multi-statement
    # query) to an empty database, it yields the schema the models describe.
    migration_sql = project.path / "migration.sql"
    migration_sql.write_text(sql)
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        for statement in re.split(r";\n\n", migration_sql.read_text()):
            if re.sub(r"--[^\n]*", "", statement).strip():
                conn.exec_driver_sql(statement)
    assert versions(engine) == {history[-1]}
    assert "users" in tables(engine)
    succeeded(project.alembic("check"))


# -- stamping and checking -----------------------------------------------------------


def test_stamp_head_and_base_touch_only_the_version(
    project: Project, engine: sa.Engine
) -> None:
    head = linear_history(project)[-1]
    succeeded(project.alembic("stamp", "head"))
    assert versions(engine) == {head}
    assert tables(engine) == {"alembic_version"}, "stamp must not run migrations"

    succeeded(project.alembic("stamp", "base"))
    assert versions(engine) == set()


def test_check_passes_at_head_and_reports_drift(project: Project) -> None:
    succeeded(project.alembic("upgrade", "head"))
    assert "No new upgrade operations detected" in succeeded(project.alembic("check"))

    add_model_column(project)
    output = failed(project.alembic("check"), "The models and the database differ")
    assert f"column users.{NEW_COLUMN} (VARCHAR(50)): in the models, missing" in output
    assert "object at 0x" not in output  # words, not Python reprs
    assert output.count("The models and the database differ") == 1, output


def test_check_lists_a_server_default_drift_in_words(project: Project) -> None:
    succeeded(project.alembic("upgrade", "head"))
    user_py = project.path / "models" / "user.py"
    text = user_py.read_text()
    assert "server_default=func.now()" in text
    user_py.write_text(text.replace("func.now()", "func.clock_timestamp()"))
    output = failed(project.alembic("check"))
    assert "server default now() in the database" in output, output
    assert "clock_timestamp() in the models" in output
    assert "DefaultClause" not in output


def test_troubleshooting_reset_recipes(project: Project, engine: sa.Engine) -> None:
    """The README's Troubleshooting section: what works, and what the guide's
    `stamp base` + `upgrade head` really does on a migrated database."""
    head = linear_history(project)[-1]
    succeeded(project.alembic("upgrade", "head"))
    succeeded(project.alembic("stamp", "base"))  # forgets the record, keeps tables
    failed(project.alembic("upgrade", "head"), "already exists")
    succeeded(project.alembic("stamp", "head"))  # the record is right again

    # A development database really starts over with every downgrade, then up.
    succeeded(project.alembic("downgrade", "base"))
    assert tables(engine) == {"alembic_version"}
    succeeded(project.alembic("upgrade", "head"))
    assert versions(engine) == {head}


def test_check_on_unmigrated_database_says_so(project: Project) -> None:
    failed(project.alembic("check"), "Target database is not up to date")


# -- branches ------------------------------------------------------------------------


def test_merge_joins_two_heads(project: Project, engine: sa.Engine) -> None:
    base_head = linear_history(project)[-1]
    succeeded(project.alembic("revision", "-m", "branch one", "--rev-id=b1"))
    succeeded(
        project.alembic(
            "revision",
            "-m",
            "branch two",
            "--rev-id=b2",
            "--head",
            base_head,
            "--splice",
        )
    )
    heads = succeeded(project.alembic("heads"))
    assert sorted(re.findall(r"^(\S+) \(head\)", heads, flags=re.MULTILINE)) == [
        "b1",
        "b2",
    ], heads
    failed(project.alembic("upgrade", "head"), "Multiple head revisions")

    succeeded(project.alembic("merge", "-m", "Merge branches", "b1", "b2"))
    script = script_directory(project)
    assert len(script.get_heads()) == 1
    merged = script.get_current_head()
    assert merged is not None
    assert merged not in {"b1", "b2"}
    revision = script.get_revision(merged)
    assert revision is not None
    assert revision.down_revision is not None
    assert set(revision.down_revision) == {"b1", "b2"}
    assert len(succeeded(project.alembic("heads")).strip().splitlines()) == 1

    succeeded(project.alembic("upgrade", "head"))
    assert versions(engine) == {merged}


# -- where the database comes from ---------------------------------------------------


def test_database_url_from_environment_is_used(
    project: Project, engine: sa.Engine, server: TestServer
) -> None:
    head = linear_history(project)[-1]
    with server.fresh_database(prefix="mk_test_other") as other:
        other_url = other.secret_url().reveal()
        succeeded(
            project.alembic("upgrade", "head", env=project.env(DATABASE_URL=other_url))
        )
        other_engine = server.engine(other)
        try:
            assert versions(other_engine) == {head}
            assert "users" in tables(other_engine)
        finally:
            other_engine.dispose()
        # The project's own database was not touched.
        assert tables(engine) == set()
        assert f"{head} (head)" in succeeded(
            project.alembic("current", env=project.env(DATABASE_URL=other_url))
        )
        assert succeeded(project.alembic("current")).strip() == ""
