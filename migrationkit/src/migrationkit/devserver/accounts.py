"""One system account per cluster: what keeps root-mode clusters apart.

PostgreSQL refuses to run as root, so under root the server must run as some other
account. Had every cluster on a machine run as one shared account (``postgres``),
the superuser of any of them (every embedded connection is one, and ``COPY ... TO
PROGRAM`` runs a shell as the server's account) could read every other cluster's
files and connect to its socket. Each cluster therefore gets an account of its own,
``mkpg_<8 random hex>``: a system account with no login shell, no home, no
password, and a private group that only it belongs to. Its data folder and socket
folder are mode 0700 and its own, so no other cluster's account can enter them.

The account is recorded (name, uid, gid) in the cluster's root-owned state file;
``migrationkit db destroy`` ends its processes and deletes it.

A uid is never handed out twice. Files an account leaves outside its data folder
(a setuid shell a superuser copied to ``/tmp``) keep its uid after it is deleted;
had ``useradd --system`` given that uid to the next cluster's account, its
superuser would own them. Each account's uid and gid (one number) are therefore
issued from a range nothing else on the machine allocates from, and the highest
number ever issued is kept in ``/var/lib/migrationkit/ids`` (root's, 0600, replaced
atomically under a lock): a new account always gets a larger one.
"""

from __future__ import annotations

import grp
import json
import logging
import pwd
import secrets
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from migrationkit.devserver.machine import (
    machine_lock,
    read_machine_file,
    write_machine_file,
)
from migrationkit.errors import EmbeddedServerError

log = logging.getLogger(__name__)

ACCOUNT_PREFIX = "mkpg_"
_LOCKED_OUT_ATTEMPTS = 50  # /etc/passwd is locked while another useradd runs
_LOCKED_OUT_PAUSE_S = 0.2
_NAME_IN_USE = 9  # useradd's exit status for an existing name
FIRST_ID = 1_900_000_000
"""The first uid/gid of migrationkit's range. Distributions allocate users below
60000 and systemd's container ranges end at 1879048191; nothing allocates in
1879048192-2147483647. The uids must be mapped in the user namespace (they are
outside rootless containers; inside one, root mode is refused, saying why)."""
_LAST_ID = 2_147_483_646  # some tools read uids as signed 32-bit numbers
_IDS_FILE = "ids"
_IN_USE = 8  # userdel's exit status while the account runs processes
_WAYS_OUT = (
    "Run as a non-root user (the server then runs as you), or set DATABASE_URL to "
    "use your own PostgreSQL."
)


@dataclass(frozen=True, kw_only=True)
class ServerAccount:
    """The account a root-mode cluster's server runs as."""

    name: str
    uid: int
    gid: int

    def as_dict(self) -> dict[str, str | int]:
        return {"name": self.name, "uid": self.uid, "gid": self.gid}


def create_account(*, cluster: Path) -> ServerAccount:
    """A new system account with a random name and a never-used id, for one cluster."""
    purpose = f"migrationkit embedded PostgreSQL {cluster}"
    comment = "".join(c if c.isprintable() and c not in ":," else "_" for c in purpose)
    for _ in range(5):
        name = f"{ACCOUNT_PREFIX}{secrets.token_hex(4)}"
        if _user_exists(name) or _group_exists(name):
            continue
        ident = _issue_id()
        if _admin("groupadd", "--gid", str(ident), name, allowed=(_NAME_IN_USE,)):
            continue
        status = _admin(
            "useradd",
            "--system",
            "--no-log-init",  # no sparse lastlog/faillog entry at a large uid
            "--uid",
            str(ident),
            "--gid",
            str(ident),
            "--no-create-home",
            "--home-dir",
            "/nonexistent",
            "--shell",
            _nologin(),
            "--comment",
            comment[:200],
            name,
            allowed=(_NAME_IN_USE,),
        )
        if status != 0:
            _admin("groupdel", name)
            continue
        log.warning(
            "created system account %r (uid %d, no login, no home) to run the "
            "embedded PostgreSQL server of %s, which refuses to run as root; "
            "`migrationkit db destroy` removes it",
            name,
            ident,
            cluster,
        )
        return ServerAccount(name=name, uid=ident, gid=ident)
    raise EmbeddedServerError("Could not find a free account name; try again.")


def _issue_id() -> int:
    """The next id above every one ever issued, free as a uid and as a gid.

    The new highest id is written before the account is made, so an interrupted
    command wastes a number but can never let one be issued twice.
    """
    with machine_lock(f"{_IDS_FILE}.lock"):
        raw = read_machine_file(_IDS_FILE)
        try:
            highest = int(json.loads(raw)["highest"]) if raw else FIRST_ID - 1
        except (ValueError, KeyError, TypeError):
            raise EmbeddedServerError(
                "/var/lib/migrationkit/ids is damaged; it records the highest uid "
                "migrationkit has issued. Nothing was changed. Write "
                '{"highest": N} into it, N at least the largest uid of any mkpg_ '
                "account ever made on this machine."
            ) from None
        # Also above every account in the range, should the file have been lost.
        in_range = [
            u.pw_uid for u in pwd.getpwall() if FIRST_ID <= u.pw_uid <= _LAST_ID
        ]
        ident = max(highest + 1, FIRST_ID, *(uid + 1 for uid in in_range))
        while _uid_holder(ident) is not None or _gid_holder(ident, "") is not None:
            ident += 1
        if ident > _LAST_ID or not _mapped(ident):
            raise EmbeddedServerError(
                f"uid {ident} is not usable here (migrationkit gives each root-mode "
                f"cluster a never-reused uid from {FIRST_ID} up, and this user "
                "namespace does not map it). " + _WAYS_OUT
            )
        write_machine_file(_IDS_FILE, json.dumps({"highest": ident}).encode() + b"\n")
        return ident


def _mapped(ident: int) -> bool:
    """Whether ``ident`` is a valid uid and gid in this user namespace."""
    for table in ("/proc/self/uid_map", "/proc/self/gid_map"):
        try:
            lines = Path(table).read_text().splitlines()
        except OSError:
            continue  # no /proc: let useradd decide
        ranges = [tuple(int(n) for n in line.split()) for line in lines if line]
        if not any(start <= ident < start + size for start, _, size in ranges):
            return False
    return True


def ensure_account(recorded: ServerAccount, *, cluster: Path) -> ServerAccount:
    """The recorded account, re-created with its old ids if it has vanished.

    A container rebuilt over the same project folder keeps the cluster's files
    (owned by the old uid) but not ``/etc/passwd``. Any other mismatch is refused.
    """
    try:
        entry = pwd.getpwnam(recorded.name)
    except KeyError:
        entry = None
    if entry is not None:
        if (entry.pw_uid, entry.pw_gid) != (recorded.uid, recorded.gid):
            raise EmbeddedServerError(
                f"The account {recorded.name!r} recorded for the embedded server in "
                f"{cluster} now has uid {entry.pw_uid} (the cluster's files belong to "
                f"uid {recorded.uid}). Nothing was changed. Run `migrationkit db "
                "destroy` to start over. " + _WAYS_OUT
            )
        return recorded
    holder = _uid_holder(recorded.uid) or _gid_holder(recorded.gid, recorded.name)
    if holder is not None:
        raise EmbeddedServerError(
            f"The account {recorded.name!r} recorded for the embedded server in "
            f"{cluster} no longer exists, and its ids now belong to {holder}. "
            "Nothing was changed. Run `migrationkit db destroy` to start over. "
            + _WAYS_OUT
        )
    if not _group_exists(recorded.name):
        _admin("groupadd", "--system", "--gid", str(recorded.gid), recorded.name)
    _admin(
        "useradd",
        "--system",
        "--no-log-init",
        "--uid",
        str(recorded.uid),
        "--gid",
        str(recorded.gid),
        "--no-create-home",
        "--home-dir",
        "/nonexistent",
        "--shell",
        _nologin(),
        recorded.name,
    )
    log.warning(
        "re-created system account %r (uid %d) for the embedded server in %s: its "
        "files were kept but the account was gone",
        recorded.name,
        recorded.uid,
        cluster,
    )
    return recorded


def remove_account(account: ServerAccount) -> str:
    """End every process of the account, then delete it and its group.

    The server is stopped by then, but programs a database superuser started with
    ``COPY ... TO PROGRAM`` may still run; ``kill -KILL -1`` run *as the account's
    uid* reaches exactly its own processes, whoever's pid a file might name, and
    works whether or not the account still exists. Returns what happened, in words.
    """
    if not account.name.startswith(ACCOUNT_PREFIX):
        raise EmbeddedServerError(f"Refusing to delete account {account.name!r}.")
    _kill_all(account)
    try:
        entry = pwd.getpwnam(account.name)
    except KeyError:
        entry = None
    if entry is None:
        said = f"system account {account.name!r} was already gone"
    elif entry.pw_uid != account.uid:
        said = (
            f"system account {account.name!r} kept: it now has uid {entry.pw_uid}, "
            f"not this cluster's {account.uid}"
        )
    else:
        for _ in range(_LOCKED_OUT_ATTEMPTS):  # killed processes take a moment to go
            if _admin("userdel", account.name, allowed=(_IN_USE,)) == 0:
                break
            _kill_all(account)
            time.sleep(_LOCKED_OUT_PAUSE_S)
        else:
            raise EmbeddedServerError(
                f"Could not delete account {account.name!r}: it still runs processes."
            )
        said = f"system account {account.name!r} (uid {account.uid}) removed"
    if _group_exists(account.name) and grp.getgrnam(account.name).gr_gid == account.gid:
        _admin("groupdel", account.name)
    return said


def _kill_all(account: ServerAccount) -> None:
    if account.uid == 0:
        return
    subprocess.run(
        ["/bin/sh", "-c", "kill -KILL -1"],
        user=account.uid,
        group=account.gid,
        extra_groups=[],
        cwd="/",
        env={"PATH": "/usr/bin:/bin"},
        capture_output=True,
        check=False,
    )


def _admin(*command: str, allowed: tuple[int, ...] = ()) -> int:
    """Run a shadow-utils command, waiting out a lock held by another one."""
    binary = _find_admin_tool(command[0])
    for _ in range(_LOCKED_OUT_ATTEMPTS):
        result = subprocess.run(
            [binary, *command[1:]], capture_output=True, text=True, check=False
        )
        if result.returncode == 0 or result.returncode in allowed:
            return result.returncode
        if "lock" not in result.stderr.lower():
            break
        time.sleep(_LOCKED_OUT_PAUSE_S)
    raise EmbeddedServerError(
        f"`{' '.join(command)}` failed: {result.stderr.strip()}. The embedded server "
        "needs a system account of its own when run as root. " + _WAYS_OUT
    )


def _find_admin_tool(name: str) -> str:
    found = shutil.which(name) or next(
        (str(p) for d in ("/usr/sbin", "/sbin") if (p := Path(d) / name).exists()),
        None,
    )
    if found is None:
        raise EmbeddedServerError(
            f"`{name}` is not installed, and the embedded server needs it to manage "
            "a system account of its own when run as root. " + _WAYS_OUT
        )
    return found


def _nologin() -> str:
    for shell in ("/usr/sbin/nologin", "/sbin/nologin"):
        if Path(shell).exists():
            return shell
    return "/bin/false"


def _uid_holder(uid: int) -> str | None:
    try:
        return f"user {pwd.getpwuid(uid).pw_name!r}"
    except KeyError:
        return None


def _gid_holder(gid: int, own_name: str) -> str | None:
    try:
        name = grp.getgrgid(gid).gr_name
    except KeyError:
        return None
    return None if name == own_name else f"group {name!r}"


def _user_exists(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


def _group_exists(name: str) -> bool:
    try:
        grp.getgrnam(name)
    except KeyError:
        return False
    return True
