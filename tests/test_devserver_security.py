"""The embedded server attacked as issues 6 and 15 describe: every attack fails.

Root mode is what containers and CI get by default. These tests play a second
local user and a database superuser (every embedded connection is one, and
``COPY ... FROM PROGRAM`` runs a shell as the server's account) and check that
neither reaches root's files, another cluster, or more of a folder than its ACL
gave them. They need root and ``useradd`` and are skipped otherwise, saying why;
the checks of a private ``.pgdata`` run as anyone.

Each test destroys the clusters it made (which removes their system accounts and
their folders below /var/lib/migrationkit) and deletes the throwaway users it made.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import pwd
import secrets
import shutil
import stat
import struct
import subprocess
import sys
import sysconfig
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql

import migrationkit
from migrationkit.devserver import EmbeddedPostgres
from migrationkit.devserver.accounts import ServerAccount
from migrationkit.devserver.acl import (
    AclGrant,
    Grantee,
    blocking_folders,
    grant_search,
    may_search,
    revoke,
)
from migrationkit.devserver.files import read_owned_file
from migrationkit.devserver.programs import binaries_dir, library_dir, spawn_server
from migrationkit.errors import EmbeddedServerError

pytestmark = pytest.mark.slow  # servers, clusters or benchmarks of its own

needs_root = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("useradd") is None,
    reason="root mode (one system account per cluster) needs root and useradd; "
    "as anyone else the server runs as that user, and these attacks do not apply",
)
ACL = "system.posix_acl_access"
USER_OBJ, USER, GROUP_OBJ, GROUP, MASK, OTHER = 0x01, 0x02, 0x04, 0x08, 0x10, 0x20
NO_ID = 0xFFFFFFFF
LONG = "d" * 100  # a folder name that pushes a socket path past sun_path's 107 bytes

Clusters = Callable[[Path], EmbeddedPostgres]


# -- fixtures and helpers --------------------------------------------------------------


@pytest.fixture
def holder() -> Iterator[Path]:
    """A private folder outside pytest's temp tree (see tests/test_embedded.py)."""
    path = Path(tempfile.mkdtemp(prefix="mk-sec-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def clusters() -> Iterator[Clusters]:
    """Make clusters; each is destroyed at the end, even when another fails to."""
    with contextlib.ExitStack() as stack:

        def make(root: Path) -> EmbeddedPostgres:
            server = EmbeddedPostgres(root)
            stack.callback(server.destroy)
            return server

        yield make


@pytest.fixture
def other_user() -> Iterator[pwd.struct_passwd]:
    """A throwaway local user (no login, no home), deleted with its processes."""
    name = f"mkt_{secrets.token_hex(4)}"
    admin(
        "useradd",
        "--user-group",
        "--no-create-home",
        "--home-dir",
        "/nonexistent",
        "--shell",
        "/usr/sbin/nologin",
        name,
    )
    user = pwd.getpwnam(name)
    grants: list[AclGrant] = []
    try:
        # The attacks run this environment's Python and psql as that user: where
        # the clone sits in a private folder (mktemp -d), let it through, search
        # only, as the embedded server's own account is let through.
        grantee = Grantee(uid=user.pw_uid, gids=frozenset({user.pw_gid}))
        tools = [
            Path(sysconfig.get_paths()["purelib"]),
            Path(migrationkit.__file__).parents[1],  # an editable install's source
            binaries_dir(),
        ]
        for folder in blocking_folders(tools, grantee):
            grants.append(grant_search(folder, uid=user.pw_uid))
        yield user
    finally:
        as_user(user, "/bin/sh", "-c", "kill -KILL -1")  # only its own processes
        for grant in reversed(grants):
            revoke(grant, uid=user.pw_uid)
        admin("userdel", name)


def admin(*command: str) -> None:
    """Run useradd/userdel, waiting while another process holds /etc/passwd."""
    for _ in range(100):
        result = subprocess.run(command, capture_output=True, text=True, check=False)
        if result.returncode == 0:
            return
        if "lock" not in result.stderr and "currently used" not in result.stderr:
            break
        time.sleep(0.2)
    raise AssertionError(f"{command} failed: {result.stderr}")


def as_user(
    user: pwd.struct_passwd, *argv: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        list(argv),
        user=user.pw_uid,
        group=user.pw_gid,
        extra_groups=[],
        cwd="/",
        env={"PATH": "/usr/bin:/bin", **(env or {})},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def query(server: EmbeddedPostgres, key: str) -> str:
    value = server.url("postgres").query[key]
    assert isinstance(value, str)
    return value


def connect(server: EmbeddedPostgres, **options: Any) -> psycopg.Connection[Any]:
    """A superuser connection to ``server``, as its URL describes (options override)."""
    conninfo: dict[str, Any] = {
        "host": query(server, "host"),
        "port": query(server, "port"),
        "passfile": query(server, "passfile"),
        "user": "postgres",
        "dbname": "postgres",
        "connect_timeout": 10,
    }
    return psycopg.connect(autocommit=True, **(conninfo | options))


def superuser_shell(server: EmbeddedPostgres, command: str) -> str:
    """What ``command`` prints when a database superuser runs it on the server."""
    with connect(server) as conn:
        conn.execute("CREATE TEMP TABLE out (n serial, line text)")
        conn.execute(
            sql.SQL(
                "COPY out (line) FROM PROGRAM {} "
                "WITH (FORMAT csv, DELIMITER E'\\x01', QUOTE E'\\x02')"
            ).format(sql.Literal(f"{{ {command}\n}} 2>&1; echo exit=$?"))
        )
        rows = conn.execute("SELECT line FROM out ORDER BY n").fetchall()
    return "\n".join(line or "" for (line,) in rows)


def cli(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env["MIGRATIONKIT_PGDATA"] = str(root)
    return subprocess.run(
        [sys.executable, "-m", "migrationkit", *args],
        cwd=root.parent,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


def set_acl(folder: Path, entries: list[tuple[int, int, int]]) -> bytes:
    raw = struct.pack("<I", 2) + b"".join(
        struct.pack("<HHI", *entry) for entry in sorted(entries)
    )
    os.setxattr(folder, ACL, raw)
    return os.getxattr(folder, ACL)


def acl_of(folder: Path) -> bytes | None:
    try:
        return os.getxattr(folder, ACL)
    except OSError as exc:
        if exc.errno != errno.ENODATA:
            raise
        return None


def accounts_for(root: Path) -> list[str]:
    """System accounts whose comment names this cluster root."""
    return [u.pw_name for u in pwd.getpwall() if str(root) in u.pw_gecos]


def processes_of(uid: int) -> list[int]:
    """Live processes of ``uid`` (a zombie, exited but not yet reaped, runs nothing)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(FileNotFoundError, ProcessLookupError):
                state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
                if entry.stat().st_uid == uid and state != "Z":
                    found.append(int(entry.name))
    return found


def fingerprint(path: Path) -> tuple[bytes, int, int, int]:
    st = path.lstat()
    return path.read_bytes(), st.st_mode, st.st_uid, st.st_mtime_ns


# -- the root folder: private, or refused ------------------------------------------


@pytest.mark.parametrize("case", ["symlink", "group-writable", "parent-writable"])
def test_a_pgdata_others_could_change_is_refused(holder: Path, case: str) -> None:
    elsewhere = holder / "elsewhere"
    elsewhere.mkdir(mode=0o700)
    root = holder / "pgdata"
    if case == "symlink":
        root.symlink_to(elsewhere)
        expected = "is a symbolic link"
    elif case == "group-writable":
        root.mkdir()
        root.chmod(0o770)
        expected = "others may write in it"
    else:
        shared = holder / "shared"
        shared.mkdir()
        shared.chmod(0o777)  # world-writable, not sticky
        root = shared / "pgdata"
        expected = "others may write in that folder"
    with pytest.raises(EmbeddedServerError, match=expected) as refused:
        EmbeddedPostgres(root).ensure_running()
    assert "Nothing was changed" in str(refused.value)
    assert list(elsewhere.iterdir()) == []
    assert not (root / "lock").exists()


@needs_root
def test_a_pgdata_of_another_user_is_refused(
    holder: Path, other_user: pwd.struct_passwd
) -> None:
    root = holder / "pgdata"
    root.mkdir(mode=0o700)
    os.chown(root, other_user.pw_uid, other_user.pw_gid)
    with pytest.raises(EmbeddedServerError, match="belongs to") as refused:
        EmbeddedPostgres(root).ensure_running()
    assert other_user.pw_name in str(refused.value)
    assert list(root.iterdir()) == []
    assert root.stat().st_uid == other_user.pw_uid


def test_files_the_server_controls_are_read_without_following_links(
    holder: Path,
) -> None:
    """How root reads postmaster.pid, which a database superuser can replace."""
    own = holder / "postmaster.pid"
    own.write_text("4242\n")
    me = os.geteuid()
    assert read_owned_file(own, owner=me) == b"4242\n"
    assert read_owned_file(own, owner=me + 1) is None  # someone else's file
    link = holder / "link.pid"
    link.symlink_to(own)
    assert read_owned_file(link, owner=me) is None
    fifo = holder / "fifo.pid"
    os.mkfifo(fifo)
    assert read_owned_file(fifo, owner=me) is None  # and it does not block
    assert read_owned_file(holder / "missing", owner=me) is None
    assert read_owned_file(own, owner=me, limit=2) == b"42"


# -- 1. no predictable socket folder ---------------------------------------------------


@needs_root
@pytest.mark.parametrize("planted", ["open-folder", "symlink"])
def test_the_socket_is_in_the_clusters_own_folder_never_a_planted_one(
    holder: Path, clusters: Clusters, other_user: pwd.struct_passwd, planted: str
) -> None:
    """Root mode keeps data and socket below /var/lib/migrationkit, short enough
    for a socket name whatever the project's path: no folder in /tmp at all."""
    server = clusters(holder / LONG / "pgdata")
    # What an old version used: /tmp/migrationkit-<sha256(data path)[:12]>, reused.
    digest = hashlib.sha256(str(server.root / "data").encode()).hexdigest()[:12]
    predicted = Path("/tmp") / f"migrationkit-{digest}"
    victim = holder / "victim"
    victim.mkdir(mode=0o700)
    if planted == "open-folder":
        made = as_user(other_user, "mkdir", "-m", "777", str(predicted))
    else:
        made = as_user(other_user, "ln", "-s", str(victim), str(predicted))
    assert made.returncode == 0, made.stderr
    try:
        server.ensure_running()
        status = server.status()
        socket_dir = status.socket_dir
        assert socket_dir is not None
        assert status.account is not None
        assert socket_dir == server.data_dir
        assert socket_dir.parent.parent == Path("/var/lib/migrationkit/clusters")
        st = socket_dir.lstat()
        assert stat.S_ISDIR(st.st_mode)
        assert stat.S_IMODE(st.st_mode) == 0o700
        assert st.st_uid == pwd.getpwnam(status.account).pw_uid
        own = socket_dir.parent.lstat()
        assert (own.st_uid, stat.S_IMODE(own.st_mode)) == (0, 0o710)

        # The planted folder or link is left exactly as it was.
        if planted == "open-folder":
            st = predicted.lstat()
            assert (st.st_uid, stat.S_IMODE(st.st_mode)) == (other_user.pw_uid, 0o777)
            assert list(predicted.iterdir()) == []
        else:
            assert predicted.readlink() == victim
            assert (victim.stat().st_uid, stat.S_IMODE(victim.stat().st_mode)) == (
                0,
                0o700,
            )

        # The other user cannot reach the real socket.
        listing = as_user(other_user, "ls", str(socket_dir))
        assert listing.returncode != 0
        assert "Permission denied" in listing.stderr
        psql = str(binaries_dir() / "psql")
        if as_user(other_user, psql, "--version").returncode == 0:
            attempt = as_user(
                other_user,
                psql,
                "-h",
                str(socket_dir),
                "-U",
                "postgres",
                "-d",
                "postgres",
                "-c",
                "SELECT 1",
            )
            assert attempt.returncode != 0
            assert "Permission denied" in attempt.stderr
    finally:
        if predicted.is_symlink():
            predicted.unlink()
        else:
            predicted.rmdir()


# -- 2. nothing root touches lies where the server's account can change it -------------


@needs_root
def test_superuser_cannot_make_root_write_or_show_a_root_only_file(
    holder: Path, clusters: Clusters
) -> None:
    token = secrets.token_hex(8)
    vault = holder / "vault"
    vault.mkdir(mode=0o700)
    secret = vault / "root-only"
    secret.write_text(f"root-only {token}\n")
    secret.chmod(0o600)
    before = fingerprint(secret)
    root = holder / "pgdata"
    server = clusters(root)
    assert cli(root, "db", "start").returncode == 0

    planted = superuser_shell(
        server, f"ln -sf {secret} migrationkit.conf && ln -sf {secret} server.log"
    )
    assert planted.endswith("exit=0"), planted
    for target in ("server.log", "passfile", "cluster.json"):
        for folder in ("..", str(root)):
            out = superuser_shell(server, f"ln -sf {secret} {folder}/{target}")
            assert "Permission denied" in out, out
    assert "Permission denied" in superuser_shell(server, f"cat {root}/passfile")

    outputs = [cli(root, "db", "stop"), cli(root, "db", "start")]
    for result in outputs:
        assert result.returncode == 0, result.stdout + result.stderr
    assert fingerprint(secret) == before
    log = (root / "server.log").lstat()
    assert stat.S_ISREG(log.st_mode)
    assert (log.st_uid, stat.S_IMODE(log.st_mode)) == (0, 0o600)

    # A start that fails prints the log's last lines: ours, not the planted ones.
    broken = superuser_shell(
        server, "printf \"shared_buffers = 'plenty'\\n\" >> postgresql.auto.conf"
    )
    assert broken.endswith("exit=0"), broken
    assert cli(root, "db", "stop").returncode == 0
    failed = cli(root, "db", "start")
    outputs.append(failed)
    assert failed.returncode == 1, failed.stdout + failed.stderr
    assert failed.stderr.startswith("FAILED: The embedded server in")
    assert "shared_buffers" in failed.stderr
    assert fingerprint(secret) == before
    for result in outputs:
        assert token not in result.stdout + result.stderr


# -- 3. no trust spans clusters --------------------------------------------------------


@needs_root
def test_clusters_cannot_reach_each_other(holder: Path, clusters: Clusters) -> None:
    a = clusters(holder / "a" / "pgdata")
    b = clusters(holder / "b" / "pgdata")
    a.ensure_running()
    b.ensure_running()
    a_status, b_status = a.status(), b.status()
    assert a_status.account is not None
    assert b_status.account is not None
    assert a_status.account != b_status.account

    # From a's superuser shell (a's account): b's files, socket and password.
    psql = binaries_dir() / "psql"
    attempts = {
        "data file": f"cat {b.data_dir}/PG_VERSION",
        "root": f"ls {b.root}",
        "password": f"cat {b.root}/passfile",
        "socket": f"{psql} -h {b_status.socket_dir} -U postgres -c 'SELECT 1'",
    }
    for what, command in attempts.items():
        out = superuser_shell(a, command)
        assert "Permission denied" in out, (what, out)
        assert not out.endswith("exit=0"), (what, out)

    # Even a connection redirected to b's socket (root can reach it) needs b's
    # password: no superuser is trusted anywhere.
    with pytest.raises(psycopg.OperationalError, match="password authentication"):
        connect(b, passfile=query(a, "passfile"))
    with pytest.raises(psycopg.OperationalError, match="password"):
        connect(b, passfile=str(holder / "no-such-passfile"))

    # Destroy ends what a's superuser left running, and removes the account.
    superuser_shell(a, "nohup sleep 600 > /dev/null 2>&1 &")
    uid = pwd.getpwnam(a_status.account).pw_uid
    assert processes_of(uid)
    report = a.destroy()
    assert report.account == a_status.account
    assert processes_of(uid) == []
    with pytest.raises(KeyError):
        pwd.getpwnam(a_status.account)
    assert not a.root.exists()
    assert not (holder / "a").exists()  # made for the cluster, so removed
    assert acl_of(holder) is None  # never given an ACL entry
    assert b.status().running


# -- 4. ACLs: none added, and an earlier version's undone exactly ---------------------


def folder_with_masked_group(
    holder: Path, user: pwd.struct_passwd, *, group_perms: int
) -> tuple[Path, bytes]:
    """``holder/acl`` with ``group:<user's group>:<group_perms> mask::r--``.

    ``holder`` becomes passable (0711), so the folder's ACL is the group's only
    obstacle; returns the folder and its ACL as set.
    """
    holder.chmod(0o711)
    folder = holder / "acl"
    folder.mkdir()
    entries = [
        (USER_OBJ, 0o7, NO_ID),
        (GROUP_OBJ, 0, NO_ID),
        (GROUP, group_perms, user.pw_gid),
        (MASK, 0o4, NO_ID),
        (OTHER, 0, NO_ID),
    ]
    return folder, set_acl(folder, entries)


@needs_root
def test_no_acl_is_added_even_below_a_masked_folder(
    holder: Path, clusters: Clusters, other_user: pwd.struct_passwd
) -> None:
    """The account never needs to enter the project's folders, so a folder whose
    ACL mask keeps a group out is used as it is, and nobody gains a thing."""
    shared, before = folder_with_masked_group(holder, other_user, group_perms=0o7)
    enter = ("/bin/sh", "-c", f"cd {shared}")
    assert as_user(other_user, *enter).returncode != 0  # the mask keeps it out
    server = clusters(shared / "pgdata")
    server.ensure_running()
    assert acl_of(shared) == before
    assert acl_of(holder) is None
    assert as_user(other_user, *enter).returncode != 0
    server.destroy()
    assert acl_of(shared) == before
    assert accounts_for(shared / "pgdata") == []


@needs_root
@pytest.mark.parametrize("order", ["made", "reverse"])
@pytest.mark.parametrize("start", ["plain", "named"])
def test_acl_entries_of_an_earlier_version_are_undone_exactly_in_any_order(
    holder: Path, other_user: pwd.struct_passwd, order: str, start: str
) -> None:
    """Two clusters of an earlier version both let their accounts through one
    folder; destroying them in either order restores the folder's ACL exactly,
    and neither removes the other's entry (issue 15, item 6: it was left
    ``mask::--x``, shown ``drwx--x---``)."""
    folder = holder / "shared"
    folder.mkdir(mode=0o700)
    if start == "named":
        set_acl(
            folder,
            [
                (USER_OBJ, 0o7, NO_ID),
                (GROUP_OBJ, 0, NO_ID),
                (GROUP, 0o4, other_user.pw_gid),
                (MASK, 0o4, NO_ID),
                (OTHER, 0, NO_ID),
            ],
        )
    original = (acl_of(folder), stat.S_IMODE(folder.stat().st_mode))
    first, second = 1_899_999_990, 1_899_999_991  # uids nobody has
    grants = {uid: grant_search(folder, uid=uid) for uid in (first, second)}
    sequence = (first, second) if order == "made" else (second, first)
    for step, uid in enumerate(sequence):
        assert revoke(grants[uid], uid=uid)
        raw = acl_of(folder)
        users = (
            {ident for tag, _, ident in decode_acl(raw) if tag == USER}
            if raw
            else set()
        )
        assert uid not in users
        if step == 0:  # the other cluster's entry stays, and still lets it through
            assert sequence[1] in users
            assert may_search(folder, Grantee(uid=sequence[1]))
    assert (acl_of(folder), stat.S_IMODE(folder.stat().st_mode)) == original


def decode_acl(raw: bytes) -> list[tuple[int, int, int]]:
    count = (len(raw) - 4) // 8
    return [struct.unpack_from("<HHI", raw, 4 + 8 * i) for i in range(count)]


# -- 5. issue 15: a uid never passes to another cluster ------------------------------


def uid_of(server: EmbeddedPostgres) -> int:
    name = server.status().account
    assert name is not None
    return pwd.getpwnam(name).pw_uid


@needs_root
def test_a_setuid_copy_left_by_a_destroyed_cluster_gets_no_later_clusters_uid(
    holder: Path, clusters: Clusters, other_user: pwd.struct_passwd
) -> None:
    """Issue 15, item 1: A's superuser leaves a setuid shell in /tmp; A is
    destroyed; B must not get A's uid, or the shell would open B's files."""
    planted = Path("/tmp") / f"mk-setuid-{secrets.token_hex(4)}"
    a = clusters(holder / "a" / "pgdata")
    a.ensure_running()
    a_uid = uid_of(a)
    try:
        out = superuser_shell(a, f"cp /bin/sh {planted} && chmod 6755 {planted}")
        assert out.endswith("exit=0"), out
        assert planted.stat().st_uid == a_uid
        a.destroy()
        with pytest.raises(KeyError):
            pwd.getpwuid(a_uid)
        b = clusters(holder / "b" / "pgdata")
        b.ensure_running()
        b_uid = uid_of(b)
        assert b_uid > a_uid  # never below one ever issued
        ids = Path("/var/lib/migrationkit/ids")
        st = ids.lstat()
        assert (st.st_uid, stat.S_IMODE(st.st_mode)) == (0, 0o600)
        assert json.loads(ids.read_text())["highest"] >= b_uid
        with pytest.raises(KeyError):
            pwd.getpwuid(planted.stat().st_uid)  # the shell's uid is nobody's
        # The other user runs the shell: it cannot read B's data.
        attempt = as_user(
            other_user, str(planted), "-p", "-c", f"cat {b.data_dir}/PG_VERSION"
        )
        assert attempt.returncode != 0
        assert "Permission denied" in attempt.stderr
    finally:
        planted.unlink(missing_ok=True)


@needs_root
def test_a_deleted_account_frees_no_uid_and_its_cluster_ends_cleanly(
    holder: Path, clusters: Clusters
) -> None:
    """The second path of item 1, and item 6: stop A, userdel its account, start
    B (a new uid); then A's stop and destroy say what happened, no traceback,
    and leave B's cluster and account alone."""
    a_root = holder / "a" / "pgdata"
    a = clusters(a_root)
    a.ensure_running()
    a_name = a.status().account
    assert a_name is not None
    a_uid = pwd.getpwnam(a_name).pw_uid
    assert cli(a_root, "db", "stop").returncode == 0
    admin("userdel", a_name)
    b = clusters(holder / "b" / "pgdata")
    b.ensure_running()
    assert uid_of(b) > a_uid
    b_account = b.status().account

    stopped = cli(a_root, "db", "stop")
    assert stopped.returncode == 0, stopped.stderr
    assert "was not running" in stopped.stdout
    destroyed = cli(a_root, "db", "destroy")
    assert destroyed.returncode == 0, destroyed.stderr
    assert "Traceback" not in destroyed.stderr
    assert f"system account {a_name!r} was already gone" in destroyed.stdout
    assert f"uid {a_uid}) removed" not in destroyed.stdout
    assert not a_root.exists()
    assert b.status().running
    assert b.status().account == b_account
    with connect(b) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)


@needs_root
def test_stop_and_destroy_work_when_the_account_vanished_under_a_running_server(
    holder: Path, clusters: Clusters
) -> None:
    """Item 6: ``db stop`` and ``db destroy`` ended in tracebacks on a missing
    account; the server is stopped and deleted by its recorded uid instead."""
    root = holder / "pgdata"
    server = clusters(root)
    server.ensure_running()
    name = server.status().account
    assert name is not None
    uid = pwd.getpwnam(name).pw_uid
    admin("userdel", "--force", name)  # while its server runs
    stopped = cli(root, "db", "stop")
    assert stopped.returncode == 0, stopped.stdout + stopped.stderr
    assert "stopped" in stopped.stdout
    assert processes_of(uid) == []
    destroyed = cli(root, "db", "destroy")
    assert destroyed.returncode == 0, destroyed.stdout + destroyed.stderr
    assert "Traceback" not in destroyed.stderr
    assert f"system account {name!r} was already gone" in destroyed.stdout
    assert not root.exists()


@needs_root
def test_destroy_keeps_an_account_that_took_the_name_with_another_uid(
    holder: Path, clusters: Clusters
) -> None:
    """Item 6: destroy said the account was removed when it kept another uid's."""
    root = holder / "pgdata"
    server = clusters(root)
    server.ensure_running()
    name = server.status().account
    assert name is not None
    assert server.stop()
    admin("userdel", name)
    admin("useradd", "--no-create-home", "--shell", "/usr/sbin/nologin", name)
    try:
        impostor = pwd.getpwnam(name).pw_uid
        report = server.destroy()
        assert report.account is None
        assert any("kept" in line and name in line for line in report.done)
        assert pwd.getpwnam(name).pw_uid == impostor
    finally:
        admin("userdel", name)


@needs_root
def test_starting_again_after_the_account_vanished_never_takes_anothers_uid(
    holder: Path, clusters: Clusters
) -> None:
    """A vanished account is re-created with its own recorded uid, which no later
    cluster was given: the two clusters stay apart."""
    a = clusters(holder / "a" / "pgdata")
    a.ensure_running()
    a_uid = uid_of(a)
    name = a.status().account
    assert name is not None
    assert a.stop()
    admin("userdel", name)
    b = clusters(holder / "b" / "pgdata")
    b.ensure_running()
    assert a.ensure_running()
    assert uid_of(a) == a_uid != uid_of(b)
    out = superuser_shell(a, f"cat {b.data_dir}/PG_VERSION")
    assert "Permission denied" in out, out


# -- 6. issue 15: root never deletes through a folder a local user controls -----------


@needs_root
def test_a_parent_owned_by_another_user_is_refused_whatever_its_mode(
    holder: Path, other_user: pwd.struct_passwd
) -> None:
    """Item 2: ``mkdir -m 755 /tmp/u/own`` by a local user; root is asked to keep
    a cluster in ``/tmp/u/own/.pgdata``. That user could swap ``.pgdata`` for a
    link between two commands, so the path is refused, nothing made."""
    holder.chmod(0o711)
    users = holder / "u"
    users.mkdir(mode=0o755)
    os.chown(users, other_user.pw_uid, other_user.pw_gid)
    made = as_user(other_user, "mkdir", "-m", "755", str(users / "own"))
    assert made.returncode == 0, made.stderr
    root = users / "own" / ".pgdata"
    result = cli(root, "db", "start")
    assert result.returncode == 1, result.stdout + result.stderr
    assert result.stderr.startswith("FAILED: Cannot keep the embedded server below")
    assert other_user.pw_name in result.stderr
    assert "Traceback" not in result.stderr
    assert not root.exists()
    assert accounts_for(root) == []
    destroyed = cli(root, "db", "destroy")
    assert destroyed.returncode == 1
    assert "Traceback" not in destroyed.stderr


@needs_root
def test_destroy_deletes_a_planted_data_link_not_its_target(holder: Path) -> None:
    """Files go through a descriptor of the checked root, never a path followed."""
    root = holder / "pgdata"
    root.mkdir(mode=0o700)
    victim = holder / "victim"
    (victim / "data").mkdir(parents=True)
    (victim / "data" / "keep").write_text("keep\n")
    (victim / "passfile").write_text("keep\n")
    (root / "data").symlink_to(victim)
    report = EmbeddedPostgres(root).destroy()
    assert report.existed
    assert not root.exists()
    assert (victim / "data" / "keep").read_text() == "keep\n"
    assert (victim / "passfile").read_text() == "keep\n"


@needs_root
def test_destroy_removes_the_folders_it_made_and_only_those(
    holder: Path, clusters: Clusters
) -> None:
    made = holder / "new" / "deeper"
    server = clusters(made / "pgdata")
    server.ensure_running()
    cluster_folder = server.data_dir.parent
    report = server.destroy()
    assert not (holder / "new").exists()
    assert holder.is_dir()
    assert not cluster_folder.exists()
    assert any(str(holder / "new") in line for line in report.done)


# -- 7. issue 15: the server's account reads nothing of the project's ----------------


@needs_root
def test_a_superuser_cannot_read_the_projects_files(
    holder: Path, clusters: Clusters
) -> None:
    """Item 3: the account was let through the project's 0700 folders, so a
    superuser read every world-readable file whose name it guessed. It now has
    no way into any folder of the invoking user's, and no ACL entry anywhere."""
    token = secrets.token_hex(8)
    project = holder / "project"
    project.mkdir(mode=0o700)
    for name in (".npmrc", ".env"):
        (project / name).write_text(f"token={token}\n")
        (project / name).chmod(0o644)
    server = clusters(project / ".pgdata")
    server.ensure_running()
    for command in (
        f"cat {project}/.npmrc",
        f"cat {project}/.env",
        f"ls {project}",
        f"ls {holder}",
        f"cat {project}/.pgdata/server.log",
    ):
        out = superuser_shell(server, command)
        assert token not in out
        assert "Permission denied" in out, (command, out)
    for folder in (holder, project, project / ".pgdata"):
        assert acl_of(folder) is None
        assert folder.stat().st_uid == 0
    assert stat.S_IMODE((project / ".pgdata").stat().st_mode) == 0o700


# -- old clusters, and the non-root mode -----------------------------------------------


@needs_root
def test_an_unrecorded_cluster_is_refused_then_destroyed(
    holder: Path, other_user: pwd.struct_passwd
) -> None:
    """What an older migrationkit left: a cluster owned by the shared account."""
    root = holder / "pgdata"
    data = root / "data"
    data.mkdir(parents=True, mode=0o700)
    root.chmod(0o700)
    (data / "PG_VERSION").write_text("18\n")
    for path in (data, data / "PG_VERSION"):
        os.chown(path, other_user.pw_uid, other_user.pw_gid)
    server = EmbeddedPostgres(root)
    with pytest.raises(EmbeddedServerError, match="did not record") as refused:
        server.ensure_running()
    assert "migrationkit db destroy" in str(refused.value)
    assert (data / "PG_VERSION").read_text() == "18\n"
    report = server.destroy()
    assert report.existed
    assert report.account is None  # the shared account is not ours to delete
    assert not root.exists()
    assert pwd.getpwnam(other_user.pw_name).pw_uid == other_user.pw_uid


@needs_root
def test_a_vanished_account_is_recreated_with_its_ids(
    holder: Path, clusters: Clusters
) -> None:
    """A container rebuilt over a kept project folder has a fresh /etc/passwd."""
    server = clusters(holder / "pgdata")
    server.ensure_running()
    name = server.status().account
    assert name is not None
    entry = pwd.getpwnam(name)
    assert server.stop()
    admin("userdel", name)
    with pytest.raises(KeyError):
        pwd.getpwnam(name)
    assert server.ensure_running()
    again = pwd.getpwnam(name)
    assert (again.pw_uid, again.pw_gid) == (entry.pw_uid, entry.pw_gid)
    with connect(server) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)


def interpreter_for(user: pwd.struct_passwd) -> list[str] | None:
    """A Python command ``user`` can run with this environment's packages, if any."""
    packages = sysconfig.get_paths()["purelib"]
    boot = f"import site, sys; site.addsitedir({packages!r}); "
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    for candidate in (sys.executable, f"/usr/bin/python{version}"):
        try:
            probe = as_user(
                user, candidate, "-S", "-c", boot + "import migrationkit.cli.main"
            )
        except OSError:  # not found, or not executable by that user
            continue
        if probe.returncode == 0:
            return [
                candidate,
                "-S",
                "-c",
                boot + "from migrationkit.cli.main "
                "import main; sys.exit(main(sys.argv[1:]))",
            ]
    return None


UserDb = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def user_db(holder: Path, other_user: pwd.struct_passwd) -> UserDb:
    """``migrationkit db ...`` run as the second user, who gets ``holder``."""
    python = interpreter_for(other_user)
    if python is None:
        pytest.skip("no Python the second user can run with this environment")
    os.chown(holder, other_user.pw_uid, other_user.pw_gid)

    def db(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
        env = {"MIGRATIONKIT_PGDATA": str(root)}
        return as_user(other_user, *python, "db", *args, env=env)

    return db


@needs_root
def test_as_a_non_root_user_everything_is_that_users_and_private(
    holder: Path, other_user: pwd.struct_passwd, user_db: UserDb
) -> None:
    root = holder / LONG / "pgdata"  # long: the socket needs a folder of its own
    try:
        started = user_db(root, "start")
        assert started.returncode == 0, started.stdout + started.stderr
        assert "initializing a new PostgreSQL" in started.stderr
        url = user_db(root, "url").stdout.strip()
        assert url.startswith("postgresql://postgres@/development?")

        for path, mode in (
            (root, 0o700),
            (root / "data", 0o700),
            (root / "passfile", 0o600),
            (root / "server.log", 0o600),
        ):
            st = path.lstat()
            assert (st.st_uid, stat.S_IMODE(st.st_mode)) == (other_user.pw_uid, mode)
        status = user_db(root, "status").stdout
        socket_dir = Path(status.split("socket")[1].split()[0])
        st = socket_dir.lstat()
        assert (st.st_uid, stat.S_IMODE(st.st_mode)) == (other_user.pw_uid, 0o700)
        assert socket_dir.name.startswith("migrationkit-")
        assert accounts_for(root) == []
        assert acl_of(holder) is None
        with psycopg.connect(url) as conn:  # the URL as printed, password from file
            row = conn.execute("SELECT current_user").fetchone()
            assert row == ("postgres",)
        assert "account" not in status
    finally:
        destroyed = user_db(root, "destroy")
    assert destroyed.returncode == 0, destroyed.stdout + destroyed.stderr
    assert not root.exists()
    assert not socket_dir.exists()


@needs_root
def test_a_cluster_an_earlier_version_made_as_a_normal_user_is_adopted(
    holder: Path, other_user: pwd.struct_passwd, user_db: UserDb
) -> None:
    """Such a cluster trusts its superuser on its socket and has no password file."""
    root = holder / "pgdata"
    assert as_user(other_user, "mkdir", "-m", "700", str(root)).returncode == 0
    initdb = as_user(
        other_user,
        str(binaries_dir() / "initdb"),
        "-D",
        str(root / "data"),
        "-U",
        "postgres",
        "--auth-local=trust",
        "-E",
        "UTF8",
        "--locale=C",
    )
    assert initdb.returncode == 0, initdb.stderr
    try:
        started = user_db(root, "start")
        assert started.returncode == 0, started.stdout + started.stderr
        assert "initializing" not in started.stderr
        url = user_db(root, "url").stdout.strip()
        assert url.startswith("postgresql://postgres@/development?")
        assert "passfile" not in url
        with psycopg.connect(url) as conn:
            assert conn.execute("SELECT current_user").fetchone() == ("postgres",)
    finally:
        destroyed = user_db(root, "destroy")
    assert destroyed.returncode == 0, destroyed.stdout + destroyed.stderr
    assert not root.exists()


def socket_folders_of(uid: int) -> set[Path]:
    temp = Path(tempfile.gettempdir())
    return {
        p
        for p in temp.glob("migrationkit-*")
        if p.is_dir() and not p.is_symlink() and p.lstat().st_uid == uid
    }


@needs_root
def test_a_failed_start_leaves_no_socket_folder(
    holder: Path, other_user: pwd.struct_passwd, user_db: UserDb
) -> None:
    """Issue 15, item 6: a start that fails removed none of its socket folder."""
    root = holder / LONG / "pgdata"  # long: the socket needs a folder of its own
    try:
        started = user_db(root, "start")
        assert started.returncode == 0, started.stdout + started.stderr
        assert user_db(root, "stop").returncode == 0
        assert socket_folders_of(other_user.pw_uid) == set()
        with (root / "data" / "postgresql.auto.conf").open("a") as conf:
            conf.write("shared_buffers = 'plenty'\n")
        failed = user_db(root, "start")
        assert failed.returncode == 1, failed.stdout + failed.stderr
        assert "shared_buffers" in failed.stderr
        assert socket_folders_of(other_user.pw_uid) == set()
    finally:
        destroyed = user_db(root, "destroy")
    assert destroyed.returncode == 0, destroyed.stdout + destroyed.stderr
    assert not root.exists()
    assert not (holder / LONG).exists()  # made for the cluster, removed with it


@needs_root
def test_a_root_cluster_an_earlier_version_made_is_moved_out_of_the_project(
    holder: Path, clusters: Clusters
) -> None:
    """What the previous version left: data in ``.pgdata/data``, owned by an
    account ``useradd --system`` numbered (perhaps a recycled uid), let through
    the project's folders by ACL entries, its server running. The next start
    moves it below /var/lib/migrationkit under a new account, its data intact,
    and takes the old account and every ACL entry away."""
    project = holder / "project"
    project.mkdir(mode=0o700)
    root = project / ".pgdata"
    root.mkdir(mode=0o700)
    acls_before = {f: acl_of(f) for f in (holder, project)}
    name = f"mkpg_{secrets.token_hex(4)}"
    admin(
        "useradd",
        "--system",
        "--user-group",
        "--no-create-home",
        "--home-dir",
        "/nonexistent",
        "--shell",
        "/usr/sbin/nologin",
        name,
    )
    old = ServerAccount(
        name=name, uid=pwd.getpwnam(name).pw_uid, gid=pwd.getpwnam(name).pw_gid
    )
    server = clusters(root)  # destroyed at the end, whatever happens
    grantee = Grantee(uid=old.uid, gids=frozenset({old.gid}))
    bin_dir = binaries_dir()
    reach = [project, bin_dir, *filter(None, [library_dir(bin_dir)])]
    grants = [grant_search(f, uid=old.uid) for f in blocking_folders(reach, grantee)]
    assert project in [g.folder for g in grants]
    os.chown(root, -1, old.gid)
    root.chmod(0o710)
    data = root / "data"
    data.mkdir(mode=0o700)
    os.chown(data, old.uid, old.gid)
    password = secrets.token_urlsafe(16)
    (root / "passfile").write_text(f"*:*:*:postgres:{password}\n")
    (root / "passfile").chmod(0o600)
    pwfile = root / "initdb.pw"
    pwfile.write_text(f"{password}\n")
    os.chown(pwfile, -1, old.gid)
    pwfile.chmod(0o640)
    argv = [str(bin_dir / "initdb"), "-D", str(data), "-U", "postgres", "-E", "UTF8"]
    argv += ["--locale=C", "--auth-local=scram-sha-256", f"--pwfile={pwfile}"]
    initdb = subprocess.run(
        argv,
        user=old.uid,
        group=old.gid,
        extra_groups=[],
        cwd="/",
        env={"PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=False,
    )
    assert initdb.returncode == 0, initdb.stderr
    pwfile.unlink()
    legacy = {
        "format": 1,
        "account": old.as_dict(),
        "initialized": True,
        "has_password": True,
        "socket_dir": None,
        "acl_grants": [g.as_dict() for g in grants],
    }
    (root / "cluster.json").write_text(json.dumps(legacy))
    (root / "cluster.json").chmod(0o600)
    log_fd = os.open(root / "server.log", os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        spawn_server(
            bin_dir,
            account=old,
            data_dir=data,
            socket_dir=data,
            port=5432,
            log_fd=log_fd,
        )
    finally:
        os.close(log_fd)
    conninfo: dict[str, Any] = {"host": str(data), "user": "postgres"}
    deadline = time.monotonic() + 60
    while True:
        try:
            with psycopg.connect(
                autocommit=True, passfile=str(root / "passfile"), **conninfo
            ) as conn:
                conn.execute("CREATE TABLE kept AS SELECT 42 AS answer")
            break
        except psycopg.OperationalError:
            assert time.monotonic() < deadline, (root / "server.log").read_text()
            time.sleep(0.1)

    assert server.ensure_running()
    status = server.status()
    assert status.account not in (None, name)
    assert server.data_dir.parent.parent == Path("/var/lib/migrationkit/clusters")
    with connect(server) as conn:
        assert conn.execute("SELECT answer FROM kept").fetchone() == (42,)
    new_uid = pwd.getpwnam(str(status.account)).pw_uid
    assert new_uid > old.uid
    assert not data.exists()
    owners = {p.lstat().st_uid for p in [server.data_dir, *server.data_dir.rglob("*")]}
    assert owners == {new_uid}
    with pytest.raises(KeyError):
        pwd.getpwnam(name)
    assert {f: acl_of(f) for f in (holder, project)} == acls_before
    st = root.stat()
    assert (st.st_gid, stat.S_IMODE(st.st_mode)) == (0, 0o700)
    assert "Permission denied" in superuser_shell(server, f"cat {root}/passfile")
