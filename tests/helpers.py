"""Helpers shared by the tests: a private copy of the project, and running commands.

Test modules import from here, never from ``conftest.py`` or from each other.
URLs are held as ``Secret`` and environments render masked, so a failing test's
report (pytest prints fixtures' reprs and, with ``-l``, locals) shows no password.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy.engine import URL

from migrationkit.masking import Secret, mask_secrets
from migrationkit.testing.pgbouncer import free_port
from migrationkit.testing.processes import terminate
from migrationkit.testing.server import TestServer
from tests.in_process import run_in_process

ALEMBIC_FAILED = 255
"""``alembic`` ends with ``sys.exit(-1)`` after printing ``FAILED:``."""
USERS_ROWS = 2_000
"""Rows ``upgrade_to_users`` puts in the users table by default."""

REPO = Path(__file__).resolve().parent.parent
PROJECT_FILES = (
    "alembic",
    "alembic.ini",
    "models",
    "verify_migration.py",
    "main.py",
    "service",
)
DATABASE_VARIABLES = ("DATABASE_URL", "DATABASE_URL_DIRECT")
IN_PROCESS = os.environ.get("TESTS_IN_PROCESS", "1") != "0"
"""``TESTS_IN_PROCESS=0`` gives every ``Project.call`` a process of its own, as
before: a way to check that running in-process hides nothing."""


class Environment(dict[str, str]):
    """A child process's environment whose repr masks every password in it."""

    def __repr__(self) -> str:
        return mask_secrets(super().__repr__(), *self.secrets())

    def secrets(self) -> list[str]:
        return [
            value
            for key, value in self.items()
            if key in {"DATABASE_URL", "PGPASSWORD"} or key.endswith("_URL")
        ]


@dataclass(frozen=True)
class Project:
    """A directory holding an Alembic project, and a way to run commands in it."""

    path: Path
    database_url: Secret | None

    def env(self, **extra: str) -> Environment:
        env = Environment(
            (k, v) for k, v in os.environ.items() if k not in DATABASE_VARIABLES
        )
        if self.database_url is not None:
            env["DATABASE_URL"] = self.database_url.reveal()
        # One connection attempt: these tests point at servers that are down on
        # purpose, and the 30 s wake-up wait for hosted servers would only slow
        # them (tests/test_hosted.py covers the wait itself).
        env["MIGRATIONKIT_CONNECT_WAIT"] = "0s"
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

    def call(
        self, *args: str, env: dict[str, str] | None = None, timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        """``run``'s answer without a new process: ``python -m <args>`` (or a
        script) run in this one, as ``tests/in_process.py`` describes. From a
        thread other than the main one it is a process: the working directory,
        environment and streams it swaps belong to the whole process."""
        if not IN_PROCESS or threading.current_thread() is not threading.main_thread():
            return self.run(*args, env=env, timeout=timeout)
        return run_in_process(
            args,
            cwd=self.path,
            env=env if env is not None else self.env(),
            timeout=timeout,
        )

    def alembic(
        self, *args: str, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        """Alembic's command line, run in this process (see ``call``)."""
        return self.call("-m", "alembic", *args, env=env)

    def alembic_process(
        self, *args: str, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        """Alembic's command line in a process of its own, for tests about the
        process: its exit, its exact output, other processes beside it."""
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


def run_together(
    argv: Sequence[str | Path], *, cwd: Path, env: dict[str, str], count: int = 2
) -> list[tuple[str, str]]:
    """Start ``count`` copies of ``argv`` at once; each must succeed.

    Returns each one's (stdout, stderr), in the order they were started.
    """
    processes = [
        subprocess.Popen(
            [str(arg) for arg in argv],
            cwd=cwd,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(count)
    ]
    outputs = [process.communicate(timeout=300) for process in processes]
    for process, (stdout, stderr) in zip(processes, outputs, strict=True):
        assert process.returncode == 0, f"{stdout}\n{stderr}"
    return outputs


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


@dataclass(frozen=True)
class Role:
    """A login role a test made, with its password kept as a ``Secret``."""

    name: str
    password: Secret


def skip_unless_passwords_are_checked(server: TestServer, wrong: URL) -> None:
    """Skip the test on a server that lets ``wrong``'s role in anyway (trust)."""
    probe = server.engine(wrong)
    try:
        with probe.connect():
            pytest.skip("this server lets the role in without checking its password")
    except sa.exc.OperationalError:
        pass
    finally:
        probe.dispose()


def revision_ids(project: Project) -> list[str]:
    """The project's revisions, base first, found by walking its history."""
    script = ScriptDirectory.from_config(Config(str(project.path / "alembic.ini")))
    return [rev.revision for rev in reversed(list(script.walk_revisions()))]


def first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else ""


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


SQL_REVISION = '''"""{revision}"""

from alembic import op

revision = "{revision}"
down_revision = {down!r}
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("{upgrade}")


def downgrade() -> None:
    op.execute("{downgrade}")
'''
"""A revision template for ``write_chain_project``: one SQL statement each way."""

CHAIN_ENV = """
from alembic import context

from migrationkit.runtime import run_migrations

run_migrations(context, target_metadata=None)
"""


def write_chain_project(
    folder: Path, template: str, revisions: Sequence[tuple[str, str]]
) -> Config:
    """A tiny Alembic project in ``folder``, no models: one revision per
    ``(upgrade, downgrade)`` pair, in order, as r1, r2, ... (``template`` is
    formatted with ``revision``, ``down``, ``upgrade`` and ``downgrade``).

    For tests that need a history shaped just so, not this repository's.
    """
    versions = folder / "migrations" / "versions"
    versions.mkdir(parents=True)
    for number, (upgrade, downgrade) in enumerate(revisions, start=1):
        (versions / f"r{number}.py").write_text(
            template.format(
                revision=f"r{number}",
                down=f"r{number - 1}" if number > 1 else None,
                upgrade=upgrade,
                downgrade=downgrade,
            )
        )
    (folder / "migrations" / "env.py").write_text(CHAIN_ENV)
    (folder / "alembic.ini").write_text(
        "[alembic]\nscript_location = %(here)s/migrations\n"
    )
    return Config(str(folder / "alembic.ini"))


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


def script_heads(project: Project) -> list[str]:
    """The head revision(s) of the project's migration scripts."""
    config = Config(str(project.path / "alembic.ini"))
    return list(ScriptDirectory.from_config(config).get_heads())


def database_heads(engine: sa.Engine) -> list[str] | None:
    """The version table's revisions; None when the database has no version table."""
    with engine.connect() as conn:
        if not sa.inspect(conn).has_table("alembic_version"):
            return None
        return list(conn.scalars(sa.text("SELECT version_num FROM alembic_version")))


# -- the service over real HTTP ------------------------------------------------------


@dataclass(frozen=True)
class Reply:
    """One HTTP answer: status, decoded JSON body (or text), headers."""

    status: int
    body: Any
    headers: dict[str, str] = field(default_factory=dict)


def http(
    method: str, url: str, body: object = None, *, raw: bytes | None = None
) -> Reply:
    """One request with urllib; an HTTP error status is a Reply, not an exception."""
    data = (
        raw if raw is not None else None if body is None else json.dumps(body).encode()
    )
    request = urllib.request.Request(url, data=data, method=method)
    if data is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return _reply(response.status, response.read(), dict(response.headers))
    except urllib.error.HTTPError as error:
        return _reply(error.code, error.read(), dict(error.headers))


def _reply(status: int, content: bytes, headers: dict[str, str]) -> Reply:
    text = content.decode()
    try:
        return Reply(status, json.loads(text), headers)
    except json.JSONDecodeError:
        return Reply(status, text, headers)


class Service:
    """``python main.py --port N`` running in a project, on the loopback address."""

    def __init__(self, project: Project, *, env: dict[str, str], log: Path) -> None:
        self.port = free_port()
        self.log = log
        with log.open("w") as out:
            self.process = subprocess.Popen(
                [sys.executable, "main.py", "--port", str(self.port)],
                cwd=project.path,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def request(self, method: str, path: str, body: object = None) -> Reply:
        return http(method, self.url(path), body)

    def output(self) -> str:
        return self.log.read_text()

    def wait_until_answering(self, timeout: float = 60) -> Service:
        """Until any HTTP answer comes back; fails with the log if the process ends."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(
                    f"the service exited with {self.process.returncode}:\n"
                    f"{self.output()}"
                )
            try:
                http("GET", self.url("/openapi.json"))
            except OSError:
                time.sleep(0.1)
            else:
                return self
        raise AssertionError(
            f"the service did not answer in {timeout}s:\n{self.output()}"
        )

    def stop(self) -> int:
        """SIGTERM (a graceful stop), then SIGKILL if it takes more than 15 s."""
        return terminate(self.process)


def single_failure(
    result: subprocess.CompletedProcess[str], *, status: int, secret: str | None = None
) -> str:
    """The output of a clean failure: the exit status, one ``FAILED:``, no
    traceback, no second copy logged by Alembic, and ``secret`` nowhere."""
    output = result.stdout + result.stderr
    assert result.returncode == status, output
    assert output.count("FAILED:") == 1, output
    assert "Traceback" not in output, output
    assert "alembic.util.messaging" not in output, output
    assert "PendingRollbackError" not in output, output
    assert secret is None or secret not in output, output
    return output


def failed_line(result: subprocess.CompletedProcess[str]) -> str:
    """Alembic prints FAILED on stdout, migrationkit's entry points on stderr."""
    for stream in (result.stdout, result.stderr):
        for line in stream.splitlines():
            if line.startswith("FAILED:"):
                return line
    raise AssertionError(result.stdout + result.stderr)


def migrated_to_base(project: Project) -> str:
    """Keep the base revision only, migrate to it; returns its id."""
    only_first_revision(project)
    base = revision_ids(project)[0]
    ok(project.alembic("upgrade", "head"))
    return base


def wait_for(condition: Callable[[], bool], *, what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(0.1)


def revision_now(project: Project) -> str:
    """The database's revision id, or "" at base."""
    result = ok(project.alembic("current"))
    return result.stdout.split()[0] if result.stdout.strip() else ""


def index_state(
    engine: sa.Engine, name: str
) -> sa.Row[tuple[int, bool, bool, bool]] | None:
    """``oid``, ``valid``, ``ready`` and ``is_unique`` of the index ``name``."""
    with engine.connect() as conn:
        return conn.execute(
            sa.text(
                "SELECT indexrelid::int AS oid, indisvalid AS valid,"
                "       indisready AS ready, indisunique AS is_unique"
                "  FROM pg_index WHERE indexrelid = to_regclass(:name)"
            ),
            {"name": name},
        ).first()


def run_module(
    *args: str,
    cwd: Path,
    database_url: str,
    pgdata: Path,
    timeout: float = 300,
) -> subprocess.CompletedProcess[str]:
    """``python -m <args>`` on ``database_url``; any embedded server kept in ``pgdata``.

    ``pgdata`` should be a folder that must stay empty: a command that wrongly
    falls back to the embedded server would create it. Never raises.
    """
    env = Environment(
        (k, v)
        for k, v in os.environ.items()
        if not k.startswith(("MIGRATIONKIT_", "DATABASE_URL"))
    )
    env["DATABASE_URL"] = database_url
    env["MIGRATIONKIT_PGDATA"] = str(pgdata)
    return subprocess.run(
        [sys.executable, "-m", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
