"""New revisions are welcome: the history grows and the suite follows it.

A user adds revisions the ordinary way (``alembic revision -m``), fills them in,
changes the model to match, and runs the tests. Here that happens in a copy of the
whole repository: two revisions are added on top of today's head (whatever it is),
and the tests that walk the history (the harness's proof of every revision, the
revision-file lessons, the lint of the history, the benchmark's pairing with its
naive twins, verification and the application's start at head) run in the copy,
on this test run's server. None of them may need an edit.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from migrationkit.testing.server import TestServer
from tests.helpers import REPO, Environment, Project

pytestmark = pytest.mark.slow

IGNORED = shutil.ignore_patterns(
    ".git", ".venv", ".pgdata", "__pycache__", ".mypy_cache", ".ruff_cache",
    ".pytest_cache", "bench-results", "dist", "build", "*.egg-info",
)  # fmt: skip

TESTS_THAT_WALK_THE_HISTORY = [
    "tests/conftest.py",  # the plugin's proof of every revision is collected there
    "tests/test_history.py",
    "tests/test_lint_history.py::test_project_history_lints_clean",
    "tests/test_bench.py::test_every_naive_revision_twins_a_project_revision",
    "tests/test_verify.py::test_at_head_every_check_passes",
    "tests/test_verify.py::test_revision_behind_head_is_reported",
    "tests/test_alembic_commands.py::test_history_lists_every_revision",
    "tests/test_alembic_commands.py::test_upgrade_head_then_downgrade_base",
    "tests/test_app.py::test_health_at_head_then_behind_it",
    "tests/test_app.py::test_main_refuses_a_database_behind_head",
]

NICKNAME_LINE = (
    "    nickname: Mapped[str | None] = mapped_column(String(50), nullable=True)\n"
)
BIO_LINE = "    bio: Mapped[str | None] = mapped_column(Text, nullable=True)\n"

UPGRADE_NICKNAME = '    op.add_column("users", sa.Column("nickname", sa.String(50)))'
DOWNGRADE_NICKNAME = '    op.drop_column("users", "nickname")'
UPGRADE_BIO = '    op.add_column("users", sa.Column("bio", sa.Text()))'
DOWNGRADE_BIO = '    op.drop_column("users", "bio")'


def fill_in(path: Path, *, upgrade: str, downgrade: str) -> None:
    """Write the bodies under the template's docstrings, as a person would.

    The post-write hooks already removed the empty template's ``pass`` and its
    unused imports, so those come back with the code that uses them.
    """
    text = path.read_text()
    for body, anchor in (
        (upgrade, '"""Upgrade schema."""\n'),
        (downgrade, '"""Downgrade schema."""\n'),
    ):
        assert text.count(anchor) == 1, text
        text = text.replace(anchor, f"{anchor}{body}\n").replace(
            f"{anchor}{body}\n    pass\n", f"{anchor}{body}\n"
        )
    if "from alembic import op" not in text:
        anchor = "from collections.abc import Sequence\n"
        text = text.replace(
            anchor, f"{anchor}\nimport sqlalchemy as sa\nfrom alembic import op\n"
        )
    path.write_text(text)


def new_revision(copy: Path, message: str, env: dict[str, str]) -> Path:
    made = Project(copy, None).alembic("revision", "-m", message, env=env)
    assert made.returncode == 0, made.stdout + made.stderr
    found = re.search(r"Generating (\S+\.py)", made.stdout + made.stderr)
    assert found, made.stdout + made.stderr
    return Path(found.group(1))


def test_two_new_revisions_pass_the_history_tests(
    tmp_path: Path, server: TestServer
) -> None:
    copy = tmp_path / "repo"
    shutil.copytree(REPO, copy, ignore=IGNORED)
    env = Environment(
        (k, v)
        for k, v in os.environ.items()
        if not k.startswith(("DATABASE_URL", "MIGRATIONKIT_", "PYTEST_"))
    )
    env["DATABASE_URL"] = server.admin.secret_url().reveal()
    env["MIGRATIONKIT_PGDATA"] = str(tmp_path / "must-stay-unused")

    user_py = copy / "models" / "user.py"
    source = user_py.read_text()
    anchor = '    __tablename__ = "users"\n'
    assert anchor in source
    user_py.write_text(
        source.replace(anchor, f"{anchor}\n{NICKNAME_LINE}{BIO_LINE}").replace(
            "from sqlalchemy import ", "from sqlalchemy import Text, ", 1
        )
    )
    fill_in(
        new_revision(copy, "add nickname", env),
        upgrade=UPGRADE_NICKNAME,
        downgrade=DOWNGRADE_NICKNAME,
    )
    fill_in(
        new_revision(copy, "add bio", env),
        upgrade=UPGRADE_BIO,
        downgrade=DOWNGRADE_BIO,
    )

    result = subprocess.run(
        [
            sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q",
            "-n", "2", *TESTS_THAT_WALK_THE_HISTORY,
        ],
        cwd=copy,
        env=env,
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
    )  # fmt: skip
    output = result.stdout[-6000:] + result.stderr[-3000:]
    assert result.returncode == 0, output
    assert " passed" in result.stdout, output
    assert " skipped" not in result.stdout, output
    assert not (tmp_path / "must-stay-unused").exists()
