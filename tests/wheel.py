"""migrationkit built as a wheel and installed into a venv of its own.

Shared by the tests that use migrationkit the way an adopter does
(tests/test_packaging.py, tests/test_adopter_wheel.py): ``conftest.py`` builds the
wheel once per session with ``build_distributions``, and each module makes the
venvs it needs with ``make_venv``. Nothing of this repository is on a venv's
paths, so a file missing from the wheel or a dependency missing from its metadata
fails there, as it would for an adopter.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.helpers import REPO


def uv() -> str:
    """The uv executable: ``uv run`` names itself in $UV; else the one on PATH."""
    found = os.environ.get("UV") or shutil.which("uv")
    if not found:
        pytest.skip("uv is not available to build and install the wheel")
    return found


def run(
    *args: str | Path,
    cwd: Path,
    env: dict[str, str] | None = None,
    timeout: float = 300,
) -> subprocess.CompletedProcess[str]:
    """Run a command that must succeed; its output is the assertion's message."""
    result = subprocess.run(
        [str(a) for a in args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert result.returncode == 0, (
        f"{' '.join(map(str, args))} failed ({result.returncode}):\n"
        f"{result.stdout}\n{result.stderr}"
    )
    return result


@dataclass(frozen=True)
class Venv:
    """A virtual environment with migrationkit installed from its built wheel."""

    path: Path

    @property
    def bin(self) -> Path:
        return self.path / "bin"

    def env(self, **extra: str) -> dict[str, str]:
        """Only the venv's tools, and nothing of this repository, on the paths."""
        keep = ("HOME", "LANG", "LC_ALL", "TMPDIR", "UV_CACHE_DIR")
        env = {k: v for k, v in os.environ.items() if k in keep}
        env["PATH"] = f"{self.bin}{os.pathsep}/usr/bin{os.pathsep}/bin"
        env["VIRTUAL_ENV"] = str(self.path)
        env.update(extra)
        return env


def build_distributions(out: Path) -> tuple[Path, Path]:
    """(wheel, sdist) built from the repository's migrationkit/ into ``out``."""
    run(uv(), "build", "--package", "migrationkit", "--out-dir", out, cwd=REPO)
    wheels = sorted(out.glob("migrationkit-*.whl"))
    sdists = sorted(out.glob("migrationkit-*.tar.gz"))
    assert len(wheels) == 1, list(out.iterdir())
    assert len(sdists) == 1, list(out.iterdir())
    return wheels[0], sdists[0]


def make_venv(root: Path, *, wheel: Path, extras: str, pins: list[str]) -> Venv:
    """A fresh venv in ``root`` with ``migrationkit[extras]`` from ``wheel``.

    ``root`` should lie outside pytest's tmp tree: a root-run embedded server
    under /tmp/pytest-of-root loses access when pytest resets that folder.
    """
    path = root / "venv"
    python = path / "bin" / "python"
    run(uv(), "venv", "--quiet", "--python", sys.executable, path, cwd=root)
    package = f"migrationkit[{extras}] @ {wheel.as_uri()}"
    run(uv(), "pip", "install", "--quiet", "--python", python, package, *pins, cwd=root)
    return Venv(path)


TEMPLATE_TAIL = """\
if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
"""


def alembic_init(
    folder: Path, venv: Venv, env: dict[str, str], *, import_from: str
) -> None:
    """``alembic init alembic`` in ``folder`` with the venv's Alembic, wired as
    the README says: no URL in alembic.ini, ``models.Base``'s metadata and one
    ``run_migrations`` call (imported from ``import_from``) in env.py."""
    run(venv.bin / "alembic", "init", "alembic", cwd=folder, env=env)
    ini = folder / "alembic.ini"
    ini.write_text(
        ini.read_text().replace(
            "sqlalchemy.url = driver://", "# sqlalchemy.url = driver://"
        )
    )
    env_py = folder / "alembic" / "env.py"
    text = env_py.read_text()
    assert TEMPLATE_TAIL in text, "Alembic's env.py template changed"
    text = text.replace(
        "target_metadata = None",
        "from models import Base\n\ntarget_metadata = Base.metadata",
    )
    text = text.replace(
        "from alembic import context\n",
        f"from alembic import context\nfrom {import_from} import run_migrations\n",
    )
    env_py.write_text(
        text.replace(
            TEMPLATE_TAIL, "run_migrations(context, target_metadata=target_metadata)\n"
        )
    )
