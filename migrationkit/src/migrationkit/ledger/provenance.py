"""Who ran a migration, where, and from which file: cheap facts, never fatal.

Each is best-effort: a missing ``git``, a detached checkout or an unknown OS user
gives None, and nothing here may fail or slow a migration (``git`` gets two
seconds, and runs without a shell).
"""

from __future__ import annotations

import getpass
import hashlib
import logging
import socket
import subprocess
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa

from migrationkit import __version__

log = logging.getLogger(__name__)

GIT_TIMEOUT = 2.0
"""Seconds ``git`` may take to say the commit and whether the tree is dirty."""


def file_sha256(path: str | Path | None) -> str | None:
    """SHA-256 of a revision file with line endings normalised to ``\\n``, so a
    checkout on Windows hashes as one on Linux; None when the file is gone."""
    if path is None:
        return None
    try:
        data = Path(path).read_bytes()
    except OSError:
        return None
    return hashlib.sha256(
        data.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
    ).hexdigest()


@dataclass(frozen=True, kw_only=True)
class Provenance:
    os_user: str | None
    application_name: str | None
    database_user: str | None
    host: str | None
    git_commit: str | None
    git_dirty: bool | None
    migrationkit_version: str

    @classmethod
    def collect(cls, connection: sa.Connection, *, folder: Path) -> Provenance:
        commit, dirty = git_state(folder)  # before any transaction is opened
        row = connection.execute(
            sa.text("SELECT current_setting('application_name'), current_user")
        ).one()
        return cls(
            os_user=_os_user(),
            application_name=row[0] or None,
            database_user=row[1],
            host=_host(),
            git_commit=commit,
            git_dirty=dirty,
            migrationkit_version=__version__,
        )


def _os_user() -> str | None:
    try:
        return getpass.getuser()
    except (OSError, KeyError):
        return None


def _host() -> str | None:
    try:
        return socket.gethostname() or None
    except OSError:
        return None


def git_state(folder: Path) -> tuple[str | None, bool | None]:
    """(commit, dirty) of the checkout holding ``folder``; (None, None) if unknown."""
    commit = _git(folder, "rev-parse", "HEAD")
    if commit is None:
        return None, None
    status = _git(folder, "status", "--porcelain", "--untracked-files=no", "--", ".")
    return commit, None if status is None else bool(status)


def _git(folder: Path, *args: str) -> str | None:
    try:
        done = subprocess.run(
            ["git", "-C", str(folder), *args],
            capture_output=True,
            text=True,
            timeout=GIT_TIMEOUT,
            check=False,
        )
    except (OSError, subprocess.SubprocessError) as exc:
        log.debug("git %s: %s", args[0], exc)
        return None
    if done.returncode != 0:
        return None
    return done.stdout.strip()
