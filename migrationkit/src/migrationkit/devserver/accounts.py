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
"""

from __future__ import annotations

import grp
import logging
import pwd
import secrets
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from migrationkit.errors import EmbeddedServerError

log = logging.getLogger(__name__)

ACCOUNT_PREFIX = "mkpg_"
_LOCKED_OUT_ATTEMPTS = 50  # /etc/passwd is locked while another useradd runs
_LOCKED_OUT_PAUSE_S = 0.2
_NAME_IN_USE = 9  # useradd's exit status for an existing name
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
    """A new system account with a random name, for one cluster only."""
    purpose = f"migrationkit embedded PostgreSQL {cluster}"
    comment = "".join(c if c.isprintable() and c not in ":," else "_" for c in purpose)
    for _ in range(5):
        name = f"{ACCOUNT_PREFIX}{secrets.token_hex(4)}"
        status = _admin(
            "useradd",
            "--system",
            "--user-group",
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
        if status == 0:
            entry = pwd.getpwnam(name)
            log.warning(
                "created system account %r (no login, no home) to run the embedded "
                "PostgreSQL server in %s, which refuses to run as root; "
                "`migrationkit db destroy` removes it",
                name,
                cluster,
            )
            return ServerAccount(name=name, uid=entry.pw_uid, gid=entry.pw_gid)
    raise EmbeddedServerError("Could not find a free account name; try again.")


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


def remove_account(account: ServerAccount) -> None:
    """End every process of the account, then delete it and its group.

    The server is stopped by then, but programs a database superuser started with
    ``COPY ... TO PROGRAM`` may still run; ``kill -KILL -1`` run *as the account*
    reaches exactly its own processes, whoever's pid a file might name.
    """
    if not account.name.startswith(ACCOUNT_PREFIX):
        raise EmbeddedServerError(f"Refusing to delete account {account.name!r}.")
    try:
        entry = pwd.getpwnam(account.name)
    except KeyError:
        entry = None
    if entry is not None and entry.pw_uid == account.uid:
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
        for _ in range(_LOCKED_OUT_ATTEMPTS):  # killed processes take a moment to go
            if _admin("userdel", account.name, allowed=(_IN_USE,)) == 0:
                break
            time.sleep(_LOCKED_OUT_PAUSE_S)
        else:
            raise EmbeddedServerError(
                f"Could not delete account {account.name!r}: it still runs processes."
            )
    if _group_exists(account.name) and grp.getgrnam(account.name).gr_gid == account.gid:
        _admin("groupdel", account.name)


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


def _group_exists(name: str) -> bool:
    try:
        grp.getgrnam(name)
    except KeyError:
        return False
    return True
