"""A throwaway PgBouncer in front of a test server, to test what a pooler changes.

Hosted PostgreSQL hands out pooled connection strings (Neon's ``-pooler`` hosts
run PgBouncer in transaction mode), so a project should see its migrations and
its application run through one. ``PgBouncer`` starts Debian's ``pgbouncer``
(``apt-get install pgbouncer``) on a free loopback port with a private
configuration in a fresh temporary folder, in front of one database, and stops
it afterwards. It authenticates to the server as a login role with a password
(``login_role``), since the embedded server trusts only ``postgres``, and only
on its socket.

PgBouncer refuses to run as root; under root it runs as the account that owns the
server's socket folder (the embedded cluster's own account), which can reach the
socket, or as ``nobody`` for a server on TCP.
"""

from __future__ import annotations

import os
import pwd
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Literal

from psycopg import sql
from sqlalchemy.engine import URL
from sqlalchemy.exc import DBAPIError

from migrationkit.database import DatabaseTarget
from migrationkit.errors import MigrationKitError
from migrationkit.pg import INSUFFICIENT_PRIVILEGE, server_message, sqlstate_of
from migrationkit.testing.processes import terminate
from migrationkit.testing.server import TestServer

PoolMode = Literal["session", "transaction", "statement"]
_BINARY_FOLDERS = ("/usr/sbin", "/usr/local/sbin", "/usr/bin", "/usr/local/bin")
_START_TIMEOUT_S = 15.0


def pgbouncer_binary() -> Path | None:
    """Debian's ``/usr/sbin/pgbouncer`` (often not on a user's PATH), or PATH's."""
    found = shutil.which("pgbouncer")
    if found:
        return Path(found)
    candidates = (Path(folder) / "pgbouncer" for folder in _BINARY_FOLDERS)
    return next((path for path in candidates if path.is_file()), None)


def free_port() -> int:
    """A TCP port nobody listens on at the moment, on the loopback address."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass(frozen=True)
class LoginRole:
    """A login role with a password, owning one test database."""

    name: str
    password: str = ""

    def url(self, url: URL) -> URL:
        """``url`` with this role's credentials."""
        return url.set(username=self.name, password=self.password)


@contextmanager
def login_role(server: TestServer, database: DatabaseTarget) -> Iterator[LoginRole]:
    """A fresh role that owns ``database`` (so it may migrate it), dropped after."""
    role = LoginRole(f"mk_role_{secrets.token_hex(5)}", secrets.token_urlsafe(18))
    name, db = sql.Identifier(role.name), sql.Identifier(database.url.database or "")
    _autocommit(
        server,
        None,
        sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(
            name, sql.Literal(role.password)
        ),
        sql.SQL("ALTER DATABASE {} OWNER TO {}").format(db, name),
    )
    try:
        yield role
    finally:
        # Hand the database and everything in it back; then the role can go.
        _autocommit(
            server,
            database.url,
            sql.SQL("REASSIGN OWNED BY {} TO CURRENT_USER").format(name),
            sql.SQL("DROP OWNED BY {}").format(name),
        )
        _autocommit(server, None, sql.SQL("DROP ROLE IF EXISTS {}").format(name))


def _autocommit(server: TestServer, url: URL | None, *statements: sql.Composed) -> None:
    """Run utility statements (no bind parameters there) as the server's admin."""
    engine = server.engine(url).execution_options(isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            raw = conn.connection.driver_connection
            for statement in statements:
                conn.exec_driver_sql(statement.as_string(raw))
    except DBAPIError as exc:
        if sqlstate_of(exc) != INSUFFICIENT_PRIVILEGE:
            raise
        raise MigrationKitError(
            f"The test server's role {server.admin.url.username!r} may not create "
            f"a login role for PgBouncer: {server_message(exc)}. Give it CREATEROLE."
        ) from None
    finally:
        engine.dispose()


class PgBouncer:
    """``pgbouncer`` in front of one database, for one role, on a loopback port.

    ``start()`` may come later than construction: the port is chosen up front,
    so a client can be pointed at a pooler that is not listening yet.
    """

    def __init__(
        self,
        *,
        server: URL,
        role: LoginRole,
        pool_mode: PoolMode = "transaction",
        pool_size: int = 2,
        port: int | None = None,
    ) -> None:
        binary = pgbouncer_binary()
        if binary is None:
            raise MigrationKitError(
                "pgbouncer is not installed (Debian: apt-get install pgbouncer)."
            )
        self.binary = binary
        self.server = server
        self.role = role
        self.pool_mode = pool_mode
        self.pool_size = pool_size
        self.port = port or free_port()
        self.folder = Path(tempfile.mkdtemp(prefix="mk-pgbouncer-"))
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def database(self) -> str:
        return self.server.database or ""

    @property
    def pooled_url(self) -> URL:
        """What a client uses to go through the pooler (TCP, the role's password)."""
        return URL.create(
            "postgresql+psycopg",
            username=self.role.name,
            password=self.role.password,
            host="127.0.0.1",
            port=self.port,
            database=self.database,
        )

    @property
    def direct_url(self) -> URL:
        """The same database on the server itself, as the same role."""
        return self.role.url(self.server)

    @property
    def log_file(self) -> Path:
        return self.folder / "pgbouncer.log"

    def start(self) -> PgBouncer:
        account = self._run_as()
        self._write_config()
        if account is not None:
            for path in (self.folder, *self.folder.iterdir()):
                os.chown(path, account.pw_uid, account.pw_gid)
        as_account: dict[str, object] = {}
        if account is not None:
            as_account = {
                "user": account.pw_uid,
                "group": account.pw_gid,
                "extra_groups": [],
            }
        self._process = subprocess.Popen(
            [str(self.binary), str(self.folder / "pgbouncer.ini")],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            cwd=self.folder,
            **as_account,  # type: ignore[call-overload]  # user/group only when root
        )
        self._wait_until_listening()
        return self

    def stop(self) -> None:
        """Stop at once (SIGTERM); clients' connections to it are cut."""
        process, self._process = self._process, None
        if process is not None:
            terminate(process, grace=10)

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.folder, ignore_errors=True)

    def __enter__(self) -> PgBouncer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def _run_as(self) -> pwd.struct_passwd | None:
        """Who runs pgbouncer: ourselves, or (as root) an unprivileged account."""
        if os.geteuid() != 0:
            return None
        host = self.server.host or self.server.query.get("host")
        if isinstance(host, str) and host.startswith("/"):
            owner = Path(host).stat().st_uid
            if owner != 0:
                return pwd.getpwuid(owner)
        return pwd.getpwnam("nobody")

    def _write_config(self) -> None:
        host = self.server.host or self.server.query.get("host")
        port = self.server.port or self.server.query.get("port") or 5432
        if not isinstance(host, str) or not isinstance(port, (int, str)):
            raise MigrationKitError(f"cannot tell where {self.server!r} listens")
        users = self.folder / "userlist.txt"
        users.write_text(f'"{self.role.name}" "{self.role.password}"\n')
        users.chmod(0o600)
        (self.folder / "pgbouncer.ini").write_text(
            "[databases]\n"
            f"{self.database} = host={host} port={port} dbname={self.database}\n"
            "\n"
            "[pgbouncer]\n"
            "listen_addr = 127.0.0.1\n"
            f"listen_port = {self.port}\n"
            "unix_socket_dir =\n"
            "auth_type = scram-sha-256\n"
            f"auth_file = {users}\n"
            f"pool_mode = {self.pool_mode}\n"
            f"default_pool_size = {self.pool_size}\n"
            "max_client_conn = 200\n"
            f"logfile = {self.log_file}\n"
        )

    def _wait_until_listening(self) -> None:
        deadline = time.monotonic() + _START_TIMEOUT_S
        assert self._process is not None
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                break
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise MigrationKitError(
            f"pgbouncer did not start on 127.0.0.1:{self.port}:\n{self._log_tail()}"
        )

    def _log_tail(self) -> str:
        try:
            return "\n".join(self.log_file.read_text().splitlines()[-10:])
        except OSError:
            return f"(no log at {self.log_file})"
