"""``[tool.migrationkit.lint]`` in the project's pyproject.toml, read once.

::

    [tool.migrationkit.lint]
    pg_version = "16"             # the oldest server the revisions must run on
    large_table_rows = 10000      # live mode: a table this big (or ...)
    large_table_pages = 1280      # ... this many 8 kB pages) makes a finding an error
    squawk_config = ".squawk.toml"

    [tool.migrationkit.lint.disable]
    prefer-text-field = "why this rule does not apply to this project"

Every key is optional. A rule is turned off for the whole project only with a
reason, as a per-statement suppression is. Unknown keys are refused, so a typo
does not silently lint with the defaults.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from migrationkit.errors import MigrationKitError
from migrationkit.lint.rules import is_known
from migrationkit.pyproject import tool_section

DEFAULT_LARGE_TABLE_ROWS = 10_000
DEFAULT_LARGE_TABLE_PAGES = 1_280
"""10 MiB of 8 kB pages."""

_KEYS = {
    "pg_version",
    "large_table_rows",
    "large_table_pages",
    "squawk_config",
    "disable",
}


@dataclass(frozen=True, kw_only=True)
class LintConfig:
    pg_version: str | None = None
    large_table_rows: int = DEFAULT_LARGE_TABLE_ROWS
    large_table_pages: int = DEFAULT_LARGE_TABLE_PAGES
    squawk_config: Path | None = None
    disabled: dict[str, str] = field(default_factory=dict)
    """Rule code -> why it is off for this project."""
    source: Path | None = None
    """The pyproject.toml it came from."""


def load_lint_config(project_dir: Path) -> LintConfig:
    """The project's lint settings (defaults when it has none)."""
    path, table = tool_section(project_dir, "lint")
    if path is None or table is None:
        return LintConfig(source=path)
    return _parse(table, path=path)


def _parse(table: Any, *, path: Path) -> LintConfig:
    where = f"[tool.migrationkit.lint] in {path}"
    if not isinstance(table, dict):
        raise MigrationKitError(f"{where} must be a table.")
    unknown = sorted(set(table) - _KEYS)
    if unknown:
        raise MigrationKitError(
            f"{where} has unknown key(s) {', '.join(unknown)}; known keys: "
            f"{', '.join(sorted(_KEYS))}."
        )
    disabled = table.get("disable", {})
    if not isinstance(disabled, dict) or not all(
        isinstance(reason, str) and reason.strip() for reason in disabled.values()
    ):
        raise MigrationKitError(
            f"{where}: `disable` maps each rule code to the reason it is off, as in "
            'disable = { prefer-text-field = "why" }; every reason must be written.'
        )
    bad_codes = sorted(code for code in disabled if not is_known(code))
    if bad_codes:
        raise MigrationKitError(
            f"{where}: unknown rule code(s) {', '.join(bad_codes)}."
        )
    squawk_config = table.get("squawk_config")
    return LintConfig(
        pg_version=_optional_str(table, "pg_version", where=where),
        large_table_rows=_positive(
            table, "large_table_rows", DEFAULT_LARGE_TABLE_ROWS, where
        ),
        large_table_pages=_positive(
            table, "large_table_pages", DEFAULT_LARGE_TABLE_PAGES, where
        ),
        squawk_config=(path.parent / str(squawk_config)) if squawk_config else None,
        disabled={str(code): str(reason) for code, reason in disabled.items()},
        source=path,
    )


def _optional_str(table: dict[str, Any], key: str, *, where: str) -> str | None:
    value = table.get(key)
    if value is None:
        return None
    if not isinstance(value, str | int | float):
        raise MigrationKitError(f'{where}: {key} must be a version such as "16".')
    return str(value)


def _positive(table: dict[str, Any], key: str, default: int, where: str) -> int:
    value = table.get(key, default)
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise MigrationKitError(f"{where}: {key} must be a whole number >= 0.")
    return value
