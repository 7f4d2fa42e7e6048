"""Helpers shared by the tests: a private copy of the project, and running commands.

Test modules import from here, never from ``conftest.py`` or from each other.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa

USERS_ROWS = 2_000
"""Rows ``upgrade_to_users`` puts in the users table by default."""

REPO = Path(__file__).resolve().parent.parent
PROJECT_FILES = ("alembic", "alembic.ini", "models", "verify_migration.py", "main.py")


@dataclass(frozen=True)
class Project:
    """A directory holding an Alembic project, and a way to run commands in it."""

    path: Path
    database_url: str | None

    def env(self, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
        if self.database_url is not None:
            env["DATABASE_URL"] = self.database_url
        env.update(extra)
        return env

    def run(
        self, *args: str, env: dict[str, str] | None = None, timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        """Run ``python -m <args>`` (or a script) in the project; never raises."""
        return subprocess.run(
            [sys.executable, *args],
            cwd=self.path,
            env=env if env is not None else self.env(),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def alembic(
        self, *args: str, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        return self.run("-m", "alembic", *args, env=env)

    def popen_alembic(self, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [sys.executable, "-m", "alembic", *args],
            cwd=self.path,
            env=self.env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )


def copy_project(destination: Path, files: Sequence[str] = PROJECT_FILES) -> Path:
    """Copy the project's own files (not .venv, not .pgdata) to ``destination``."""
    destination.mkdir(parents=True, exist_ok=True)
    for name in files:
        source = REPO / name
        if source.is_dir():
            shutil.copytree(
                source, destination / name, ignore=shutil.ignore_patterns("__pycache__")
            )
        elif source.exists():
            shutil.copy2(source, destination / name)
    return destination


def only_first_revision(project: Project) -> None:
    """Keep 001 alone: the repo's later revisions are not what these tests test."""
    for path in (project.path / "alembic" / "versions").glob("*.py"):
        if not path.name.startswith("001_"):
            path.unlink()


def write_revision(
    project: Project,
    *,
    rev: str,
    down: str,
    upgrade: str,
    downgrade: str = "pass",
) -> None:
    """Add ``<rev>_test.py`` to the copy, its bodies written as plain code."""
    body = textwrap.dedent(
        '''\
        """test revision {rev}"""

        import sqlalchemy as sa
        from alembic import op

        from migrationkit.ops.backfill import backfill_in_batches
        from migrationkit.ops import (
            add_foreign_key_not_valid,
            add_not_null,
            add_not_null_column,
            add_unique_constraint_using_index,
            create_index_concurrently,
            drop_index_concurrently,
            validate_constraint,
        )

        revision = "{rev}"
        down_revision = "{down}"
        branch_labels = None
        depends_on = None


        def upgrade() -> None:
        {upgrade}


        def downgrade() -> None:
        {downgrade}
        '''
    ).format(
        rev=rev,
        down=down,
        upgrade=textwrap.indent(textwrap.dedent(upgrade).strip(), "    "),
        downgrade=textwrap.indent(textwrap.dedent(downgrade).strip(), "    "),
    )
    path = project.path / "alembic" / "versions" / f"{rev}_test.py"
    path.write_text(body)


def upgrade_to_users(
    project: Project, engine: sa.Engine, rows: int = USERS_ROWS
) -> None:
    """Migrate to 001 and put ``rows`` users in the table."""
    only_first_revision(project)
    ok(project.alembic("upgrade", "001"))
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO users (id, email, first_name, is_active)"
                " SELECT gen_random_uuid(), 'user' || g || '@example.com',"
                "        'name' || g, true"
                "   FROM generate_series(1, :rows) AS g"
            ),
            {"rows": rows},
        )


def ok(result: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert result.returncode == 0, result.stdout + result.stderr
    return result


def failed(result: subprocess.CompletedProcess[str]) -> str:
    """Assert a clean failure; return what Alembic printed.

    Alembic's command line prints ``FAILED: <message>`` on stdout (the message is
    also logged on stderr) and exits with status 255 (``sys.exit(-1)``).
    """
    output = result.stdout + result.stderr
    assert result.returncode == 255, output
    assert "FAILED:" in result.stdout, output
    assert "Traceback" not in output, output
    return output


def current_revision(project: Project) -> str:
    return ok(project.alembic("current")).stdout.strip()


LINT_EXAMPLES = REPO / "tests" / "examples" / "lint"
"""The lint corpus: a miniature project and folders of example revisions."""


def lint_example_project(
    destination: Path, *, examples: str, env: str = "env.py"
) -> Path:
    """A copy of the miniature lint project holding the revisions of ``examples``.

    ``env`` picks its env.py: ``env.py`` runs migrationkit's run_migrations,
    ``env_plain.py`` is Alembic's template without migrationkit. Returns the
    project's folder (its alembic.ini is inside).
    """
    shutil.copytree(LINT_EXAMPLES / "project", destination)
    migrations = destination / "migrations"
    if env != "env.py":
        shutil.copy2(migrations / env, migrations / "env.py")
    shutil.copytree(LINT_EXAMPLES / examples / "versions", migrations / "versions")
    return destination
