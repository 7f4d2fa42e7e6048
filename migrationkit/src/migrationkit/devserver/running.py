"""Starting, stopping and reaching a cluster's server.

The server is started directly (no ``pg_ctl start``, no shell), as the cluster's
account, with its settings on the command line and its log on a descriptor of the
invoking user's; it is stopped by ``pg_ctl stop`` run as that same account, which
can signal only that account's processes, whatever pid the pid file names.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import psycopg

from migrationkit.devserver.accounts import ServerAccount
from migrationkit.devserver.files import open_private_log, read_private_tail, tail_lines
from migrationkit.devserver.programs import run_program, spawn_server
from migrationkit.devserver.state import ClusterState, data_dir_of
from migrationkit.errors import EmbeddedServerError

SUPERUSER = "postgres"
PORT = 5432
LOG = "server.log"
PASSFILE = "passfile"
_START_TIMEOUT_S = 60
_LOG_KEEP_BYTES = 8 << 20
_LOG_TAIL_LINES = 20


def display_root(root: Path) -> str:
    try:
        return "./" + str(root.relative_to(Path.cwd()))
    except ValueError:
        return str(root)


def start_server(root: Path, state: ClusterState, *, bin_dir: Path) -> None:
    """Start the server and wait until it accepts our password."""
    log_fd = open_private_log(root / LOG)
    try:
        if os.fstat(log_fd).st_size > _LOG_KEEP_BYTES:
            os.ftruncate(log_fd, 0)
        log_start = os.fstat(log_fd).st_size
        process = spawn_server(
            bin_dir,
            account=state.account,
            data_dir=data_dir_of(root, state),
            socket_dir=state.socket_dir or data_dir_of(root, state),
            port=PORT,
            log_fd=log_fd,
        )
    finally:
        os.close(log_fd)
    deadline = time.monotonic() + _START_TIMEOUT_S
    while (code := process.poll()) is None:
        try:
            with connect(root, state, dbname="postgres", timeout=2):
                return
        except psycopg.OperationalError as exc:
            if "password authentication failed" in str(exc):
                raise EmbeddedServerError(
                    f"The embedded server in {display_root(root)} runs but refuses "
                    f"the password in {root / PASSFILE} (was it changed with ALTER "
                    "ROLE?). Stop it with `migrationkit db stop`; `migrationkit db "
                    "destroy` starts over."
                ) from None
        if time.monotonic() > deadline:
            process.terminate()  # our own child, by its handle
            process.wait(timeout=30)
            raise EmbeddedServerError(
                f"The embedded server in {display_root(root)} did not accept "
                f"connections within {_START_TIMEOUT_S} s, and was stopped.\n"
                + _log_tail(root, log_start)
            )
        time.sleep(0.05)
    raise EmbeddedServerError(
        f"The embedded server in {display_root(root)} did not start (exit status "
        f"{code}).\n" + _log_tail(root, log_start)
    )


def stop_server(
    bin_dir: Path, data_dir: Path, *, account: ServerAccount | None
) -> None:
    """``pg_ctl stop``, run as the account: it signals a pid only that account wrote."""
    if account is None and os.geteuid() == 0:
        raise EmbeddedServerError(f"The server of {data_dir} is not ours to stop.")
    run_program(
        bin_dir,
        "pg_ctl",
        "-D",
        str(data_dir),
        "-m",
        "fast",
        "-w",
        "-t",
        str(_START_TIMEOUT_S),
        "stop",
        account=account,
        what="stop the embedded server",
    )


def connect(
    root: Path, state: ClusterState, *, dbname: str, timeout: int = 10
) -> psycopg.Connection[Any]:
    """A superuser connection over the socket, with the password from ``passfile``."""
    options: dict[str, Any] = {
        "host": str(state.socket_dir or data_dir_of(root, state)),
        "port": PORT,
        "user": SUPERUSER,
        "dbname": dbname,
        "connect_timeout": timeout,
    }
    if state.has_password:
        options["passfile"] = str(root / PASSFILE)
    return psycopg.connect(autocommit=True, **options)


def _log_tail(root: Path, since: int) -> str:
    data = read_private_tail(root / LOG, since=since, limit=64 << 10)
    if not data:
        return f"(nothing in the server log {root / LOG})"
    return f"Last lines of {root / LOG}:\n{tail_lines(data, _LOG_TAIL_LINES)}"


def server_uid(state: ClusterState) -> int:
    return os.geteuid() if state.account is None else state.account.uid
