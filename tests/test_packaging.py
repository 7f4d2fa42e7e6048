"""migrationkit as a distribution: built, installed and adopted by another project.

The wheel is built with ``uv build`` and installed into a fresh virtual environment
with nothing from this repository on its path, so a file missing from the wheel or a
dependency missing from its metadata fails here. Then a second Alembic project is made
from scratch (``alembic init``, a model of its own), adopts migrationkit the way the
README says, and shows that what migrationkit promises holds there too.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
import textwrap
import time
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlalchemy as sa

from migrationkit.database import DatabaseTarget
from tests.helpers import REPO, run_together
from tests.wheel import Venv, alembic_init, make_venv, run

pytestmark = pytest.mark.slow

MODEL = '''\
"""The example project's one model."""

from sqlalchemy import String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class Book(Base):
    __tablename__ = "books"

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    isbn: Mapped[str | None] = mapped_column(String(17))
'''


def oldest_supported() -> list[str]:
    """Each dependency of migrationkit pinned to the lower bound it declares.

    Read from migrationkit/pyproject.toml, so the range the package promises is
    the range these tests prove: widen a bound there, and the oldest versions are
    what the adoption tests then run on.
    """
    declared = tomllib.loads((REPO / "migrationkit" / "pyproject.toml").read_text())
    pins = []
    for requirement in declared["project"]["dependencies"]:
        found = re.fullmatch(r"([A-Za-z0-9_.\-\[\]]+)\s*>=\s*([^,\s]+).*", requirement)
        assert found, f"no lower bound to test in {requirement!r}"
        pins.append(f"{found.group(1)}=={found.group(2)}")
    return pins


@pytest.fixture(scope="module", params=["newest", "oldest"])
def venv(built: tuple[Path, Path], request: pytest.FixtureRequest) -> Iterator[Venv]:
    """A fresh venv outside pytest's tmp tree, with the newest versions of
    migrationkit's dependencies, or the oldest it declares."""
    wheel, _ = built
    root = Path(tempfile.mkdtemp(prefix="mk-venv-"))
    pins = oldest_supported() if request.param == "oldest" else []
    yield make_venv(root, wheel=wheel, extras="embedded", pins=pins)
    shutil.rmtree(root, ignore_errors=True)


def test_the_wheel_and_sdist_hold_the_whole_package(built: tuple[Path, Path]) -> None:
    wheel, sdist = built
    import tarfile  # noqa: PLC0415 - only this test reads archives
    import zipfile  # noqa: PLC0415

    source = REPO / "migrationkit" / "src"
    expected = {
        p.relative_to(source).as_posix()
        for p in source.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts
    }
    with zipfile.ZipFile(wheel) as archive:
        in_wheel = set(archive.namelist())
        entry_points = next(
            archive.read(name).decode()
            for name in in_wheel
            if name.endswith(".dist-info/entry_points.txt")
        )
    assert expected <= in_wheel, sorted(expected - in_wheel)
    assert "migrationkit/py.typed" in in_wheel
    assert "migrationkit = migrationkit.cli:main" in entry_points
    assert "migrationkit = migrationkit.testing.plugin" in entry_points
    with tarfile.open(sdist) as archive:
        in_sdist = {name.split("/", 1)[1] for name in archive.getnames() if "/" in name}
    assert {f"src/{name}" for name in expected} <= in_sdist


def test_the_installed_wheel_runs_its_command_line(venv: Venv) -> None:
    outside = Path(tempfile.mkdtemp(prefix="mk-cwd-"))
    try:
        commands: list[list[str | Path]] = [
            [venv.bin / "migrationkit", "--help"],
            [venv.bin / "python", "-m", "migrationkit", "--help"],
        ]
        for argv in commands:
            shown = run(*argv, cwd=outside, env=venv.env()).stdout
            assert shown.startswith("usage: migrationkit"), shown
            for command in ("db", "verify"):
                assert command in shown
        where = run(
            venv.bin / "python",
            "-c",
            "import migrationkit.command, migrationkit as m; print(m.__file__)",
            cwd=outside,
            env=venv.env(),
        ).stdout
        assert Path(where.strip()).is_relative_to(venv.path), where
    finally:
        shutil.rmtree(outside, ignore_errors=True)


# ------------------------------------------------------------- adoption


@dataclass(frozen=True)
class Adopter:
    """An Alembic project made from scratch, with migrationkit added to env.py."""

    path: Path
    venv: Venv

    def alembic(
        self, *args: str, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        return self._run("alembic", *args, env=env)

    def migrationkit(
        self, *args: str, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        return self._run("migrationkit", *args, env=env)

    def _run(
        self, program: str, *args: str, env: dict[str, str] | None
    ) -> subprocess.CompletedProcess[str]:
        """One of the venv's console scripts, in the project; never raises."""
        return subprocess.run(
            [str(self.venv.bin / program), *args],
            cwd=self.path,
            env=env if env is not None else self.venv.env(),
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )


def adopt(folder: Path, venv: Venv) -> Adopter:
    """Exactly the README's steps: init, a model, three lines in env.py, revisions."""
    folder.mkdir(parents=True, exist_ok=True)
    alembic_init(folder, venv, venv.env(), import_from="migrationkit.runtime")
    (folder / "models.py").write_text(MODEL)
    versions = folder / "alembic" / "versions"
    (versions / "0001_create_books.py").write_text(
        textwrap.dedent('''\
            """create books"""
            import sqlalchemy as sa
            from alembic import op

            revision = "0001"
            down_revision = None


            def upgrade() -> None:
                op.create_table(
                    "books",
                    sa.Column("id", sa.Integer(), primary_key=True),
                    sa.Column("title", sa.String(200), nullable=False),
                )


            def downgrade() -> None:
                op.drop_table("books")
            ''')
    )
    (versions / "0002_add_isbn.py").write_text(
        textwrap.dedent('''\
            """add isbn"""
            import sqlalchemy as sa
            from alembic import op

            revision = "0002"
            down_revision = "0001"


            def upgrade() -> None:
                op.add_column("books", sa.Column("isbn", sa.String(17)))


            def downgrade() -> None:
                op.drop_column("books", "isbn")
            ''')
    )
    return Adopter(folder, venv)


def url_of(database: DatabaseTarget) -> str:
    return database.secret_url().reveal()


def test_adopter_gets_the_embedded_server_and_verify(venv: Venv) -> None:
    root = Path(tempfile.mkdtemp(prefix="mk-adopt-"))
    project = adopt(root / "bookshop", venv)
    try:
        up = project.alembic("upgrade", "head")
        assert up.returncode == 0, up.stdout + up.stderr
        assert "started the embedded PostgreSQL server" in up.stderr
        assert (project.path / ".pgdata").is_dir()

        at_head = project.migrationkit("verify")
        assert at_head.returncode == 0, at_head.stdout + at_head.stderr
        assert "revision" in at_head.stdout

        down = project.alembic("downgrade", "-1")
        assert down.returncode == 0, down.stdout + down.stderr
        behind = project.migrationkit("verify")
        assert behind.returncode == 1, behind.stdout + behind.stderr
        assert "behind" in behind.stdout
        assert "isbn" in behind.stdout  # the model's column the database lacks
    finally:
        project.migrationkit("db", "destroy")
        shutil.rmtree(root, ignore_errors=True)


def test_adopter_concurrent_upgrades_apply_each_revision_once(
    venv: Venv, database: DatabaseTarget
) -> None:
    root = Path(tempfile.mkdtemp(prefix="mk-adopt-"))
    project = adopt(root / "bookshop", venv)
    env = venv.env(DATABASE_URL=url_of(database))
    try:
        argv: list[str | Path] = [venv.bin / "alembic", "upgrade", "head"]
        outputs = run_together(argv, cwd=project.path, env=env)
        applied = re.findall(
            r"Running upgrade ([^\s,]*) -> ([^\s,]+)",
            "".join(err for _, err in outputs),
        )
        assert sorted(target for _, target in applied) == ["0001", "0002"], outputs
        current = project.alembic("current", env=env)
        assert "0002 (head)" in current.stdout, current.stdout + current.stderr
    finally:
        shutil.rmtree(root, ignore_errors=True)


def test_adopter_waits_for_a_lock_and_retries(
    venv: Venv, database: DatabaseTarget, engine: sa.Engine
) -> None:
    root = Path(tempfile.mkdtemp(prefix="mk-adopt-"))
    project = adopt(root / "bookshop", venv)
    env = venv.env(DATABASE_URL=url_of(database))
    try:
        first = project.alembic("upgrade", "0001", env=env)
        assert first.returncode == 0, first.stdout + first.stderr
        with engine.connect() as holder:
            holder.execute(sa.text("SET application_name = 'lock-holder'"))
            holder.execute(sa.text("LOCK TABLE books IN ACCESS EXCLUSIVE MODE"))
            upgrade = subprocess.Popen(
                [
                    str(venv.bin / "alembic"),
                    "-x",
                    "lock_timeout=200ms",
                    "-x",
                    "lock_retries=20",
                    "upgrade",
                    "head",
                ],
                cwd=project.path,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            assert upgrade.stderr is not None
            seen = ""
            deadline = time.monotonic() + 120
            while "Retry 1 of 20" not in seen and time.monotonic() < deadline:
                line = upgrade.stderr.readline()
                if not line:
                    break
                seen += line
            assert "Retry 1 of 20" in seen, seen
            assert "lock-holder" in seen  # the blocker is named
            holder.rollback()  # let the migration through
        out, err = upgrade.communicate(timeout=120)
        assert upgrade.returncode == 0, out + seen + err
        current = project.alembic("current", env=env)
        assert "0002 (head)" in current.stdout
    finally:
        shutil.rmtree(root, ignore_errors=True)
