"""A project's ``[tool.migrationkit.<section>]`` settings, found and read in one place.

``lint`` and ``prove`` each have a section; both look for the nearest
``pyproject.toml`` at or above the project (alembic.ini's folder), as ruff and
mypy do.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from migrationkit.errors import MigrationKitError


def find_pyproject(start: Path) -> Path | None:
    """The nearest pyproject.toml at or above ``start``."""
    for folder in (start, *start.parents):
        candidate = folder / "pyproject.toml"
        if candidate.is_file():
            return candidate
    return None


def tool_section(project: Path, section: str) -> tuple[Path | None, Any]:
    """(the pyproject.toml found, its ``[tool.migrationkit.<section>]`` or None).

    A file that cannot be read or parsed is an error that names it: settings
    silently ignored would change what a check judges.
    """
    path = find_pyproject(project.resolve())
    if path is None:
        return None, None
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise MigrationKitError(f"Cannot read {path}: {exc}") from exc
    return path, document.get("tool", {}).get("migrationkit", {}).get(section)
