"""What a verification produces: plain, immutable data, rendered elsewhere.

Kept apart from ``checks`` so that each check's module (``schema``, ``revision``)
can build results without importing the runner that calls it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from alembic.config import Config


@dataclass(frozen=True, kw_only=True)
class CheckResult:
    """The verdict of one check; ``name`` is stable, for machines."""

    name: str
    title: str
    ok: bool
    summary: str
    details: tuple[str, ...] = ()
    fix: str | None = None
    """What to run or do next, when the check failed and the cure is known."""
    skipped: bool = False
    """Nothing was checked (for example: the project gave no model checks). A
    skipped check fails nothing, and it is shown and counted as skipped, never
    as passed."""


@dataclass(frozen=True, kw_only=True)
class DatabaseInfo:
    """Which database was verified; ``url`` is masked, never holds a password."""

    url: str
    source: str
    location: str
    server_version: str | None = None
    database: str | None = None
    user: str | None = None


@dataclass(frozen=True, kw_only=True)
class VerificationReport:
    database: DatabaseInfo
    checks: tuple[CheckResult, ...]
    headline: str | None = None
    """What a person must read first, when one finding explains all the others
    (a database that was never migrated)."""

    @property
    def ok(self) -> bool:
        return bool(self.checks) and all(check.ok for check in self.checks)

    @property
    def failed(self) -> tuple[CheckResult, ...]:
        return tuple(check for check in self.checks if not check.ok)

    @property
    def skipped(self) -> tuple[CheckResult, ...]:
        return tuple(check for check in self.checks if check.skipped)


def alembic_command(config: Config, *args: str) -> str:
    """The command a person should run next, with ``-c`` when the ini is elsewhere."""
    words = ["alembic"]
    ini = config.config_file_name
    if ini and Path(ini).resolve() != Path.cwd().resolve() / "alembic.ini":
        words += ["-c", ini]
    return " ".join([*words, *args])
