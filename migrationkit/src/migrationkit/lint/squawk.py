"""Run squawk, the PostgreSQL migration linter, on one revision's rendered SQL.

squawk parses the SQL with a real PostgreSQL grammar and applies its rules; its
findings come back as JSON (0-based lines of the SQL we hand it on stdin). It runs
in the project's folder, so a ``.squawk.toml`` there (excluded rules, pg_version,
assume_in_transaction) applies as it would to ``squawk`` run by hand. No
``--exclude`` is passed: squawk lets command-line excludes replace the
configuration file's, so rules migrationkit supersedes are dropped afterwards.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sysconfig
from dataclasses import dataclass
from pathlib import Path

from migrationkit.errors import MigrationKitError

SQUAWK_TIMEOUT = 60.0
"""Seconds one squawk run may take (it lints a revision in milliseconds)."""


class SquawkMissingError(MigrationKitError):
    """squawk is not installed where migrationkit can find it."""


@dataclass(frozen=True, kw_only=True)
class SquawkFinding:
    rule: str
    message: str
    help: str | None
    line: int
    """0-based line in the SQL handed to squawk."""
    level: str


def find_squawk() -> Path:
    """The ``squawk`` executable: on PATH, or beside this Python's scripts."""
    found = shutil.which("squawk")
    if found:
        return Path(found)
    beside = Path(sysconfig.get_path("scripts")) / "squawk"
    if beside.is_file():
        return beside
    raise SquawkMissingError(
        "migrationkit lint needs squawk, the PostgreSQL migration linter, and it "
        "is not installed. Install it with the `lint` extra: pip install "
        "'migrationkit[lint]' (or uv add 'migrationkit[lint]'), then run "
        "`migrationkit lint` again."
    )


def run_squawk(
    sql: str,
    *,
    executable: Path,
    project_dir: Path,
    display_path: str,
    pg_version: str | None,
    config_file: Path | None,
) -> list[SquawkFinding]:
    """squawk's findings on ``sql``; a crash or unreadable output is an error."""
    command = [
        str(executable),
        "--reporter",
        "json",
        "--stdin-filepath",
        display_path,
    ]
    if pg_version:
        command += ["--pg-version", pg_version]
    if config_file is not None:
        command += ["--config", str(config_file)]
    try:
        done = subprocess.run(
            command,
            input=sql,
            capture_output=True,
            text=True,
            cwd=project_dir,
            timeout=SQUAWK_TIMEOUT,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise MigrationKitError(f"Could not run squawk ({executable}): {exc}") from exc
    if done.returncode not in (0, 1):
        raise MigrationKitError(
            f"squawk failed on {display_path} (exit status {done.returncode}): "
            f"{done.stderr.strip() or done.stdout.strip()}"
        )
    try:
        raw = json.loads(done.stdout or "[]")
    except json.JSONDecodeError as exc:
        raise MigrationKitError(
            f"squawk's JSON output for {display_path} could not be read ({exc}); "
            f"it printed: {done.stdout[:200]!r} {done.stderr[:200]!r}"
        ) from exc
    return [
        SquawkFinding(
            rule=str(item.get("rule_name", "")),
            message=str(item.get("message", "")),
            help=item.get("help"),
            line=int(item.get("line", 0)),
            level=str(item.get("level", "Warning")),
        )
        for item in raw
        if isinstance(item, dict)
    ]


def squawk_version(executable: Path) -> str:
    """``squawk --version``'s answer, for the report."""
    done = subprocess.run(
        [str(executable), "--version"],
        capture_output=True,
        text=True,
        timeout=SQUAWK_TIMEOUT,
        check=False,
    )
    return done.stdout.strip() or "squawk (version unknown)"
