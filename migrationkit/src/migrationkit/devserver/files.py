"""Files the invoking user keeps for a cluster, opened so that nobody can redirect them.

Two kinds of place are involved, and they are treated differently:

* the cluster's *root* (``.pgdata/``): owned by the invoking user, never writable by
  the server's account nor by anyone else. Everything the invoking user writes or
  reads lives here (the lock, the state file, the password file, the server log);
  its checks run every time it is used, and files in it are opened with
  ``O_NOFOLLOW`` so that even a planted link is refused rather than followed;
* the *data folder* (``.pgdata/data``): owned by the server's account, so anything
  in it may have been changed by a database superuser (``COPY ... TO PROGRAM``
  runs a shell as that account). The invoking user writes nothing there. It lists
  the folder, reads only ``postmaster.pid``, through ``read_owned_file`` (no link
  followed, owner and file type checked, size bounded), and on ``destroy`` deletes
  the folder, once nothing of the account runs any more (``rmtree`` follows no link).
"""

from __future__ import annotations

import contextlib
import errno
import os
import pwd
import shutil
import stat
import tempfile
from pathlib import Path

from migrationkit.errors import EmbeddedServerError

_WAYS_OUT = (
    "Point MIGRATIONKIT_PGDATA at a folder of your own, or set DATABASE_URL to use "
    "your own PostgreSQL."
)
_OPEN_FLAGS = os.O_NOFOLLOW | os.O_CLOEXEC
_DEFAULT_ACL = "system.posix_acl_default"


def check_private_root(root: Path) -> bool:
    """Refuse a root that others could change; True when it exists.

    The root must be a real folder (not a link) owned by us and writable by nobody
    else; every folder above it must be writable only by its owner, or sticky
    (``/tmp``), so that nobody can swap the root for a folder of their own.
    """
    _check_ancestors(root.parent)
    try:
        st = root.lstat()
    except FileNotFoundError:
        return False
    except NotADirectoryError:
        raise EmbeddedServerError(
            f"Cannot keep the embedded server in {root}: a parent is not a folder. "
            + _WAYS_OUT
        ) from None
    if stat.S_ISLNK(st.st_mode):
        raise EmbeddedServerError(
            f"Cannot keep the embedded server in {root}: it is a symbolic link, and "
            "its target could be changed under us. Nothing was changed. Replace the "
            "link with a real folder. " + _WAYS_OUT
        )
    if not stat.S_ISDIR(st.st_mode):
        raise EmbeddedServerError(
            f"Cannot keep the embedded server in {root}: it is not a folder. "
            + _WAYS_OUT
        )
    if st.st_uid != os.geteuid():
        raise EmbeddedServerError(
            f"Cannot keep the embedded server in {root}: it belongs to "
            f"{_user_name(st.st_uid)}, not to you ({_user_name(os.geteuid())}), who "
            "could change what it holds. Nothing was changed. Run as its owner. "
            + _WAYS_OUT
        )
    if st.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        raise EmbeddedServerError(
            f"Cannot keep the embedded server in {root}: others may write in it "
            f"(mode {stat.filemode(st.st_mode)}). Nothing was changed. Make it "
            f"private (chmod 700 '{root}'). " + _WAYS_OUT
        )
    return True


def create_private_root(root: Path) -> tuple[Path, ...]:
    """Create the root with mode 0700 and no inherited ACL (parents as 0755).

    Returns the parents this call created, outermost first, so that ``destroy``
    can remove them again (if they are still empty).
    """
    missing = [p for p in [root, *root.parents] if not p.exists()]
    made: list[Path] = []
    for folder in reversed(missing):
        try:
            folder.mkdir(mode=0o700 if folder == root else 0o755)
        except FileExistsError:
            continue  # another command made it at the same moment; checked below
        except OSError as exc:
            raise EmbeddedServerError(
                f"Cannot keep the embedded server in {root}: {exc.strerror}. "
                + _WAYS_OUT
            ) from None
        if folder == root:
            reset_access(root, mode=0o700)
            _ignored_by_git(root)
        else:
            made.append(folder)
    check_private_root(root)
    return tuple(made)


GITIGNORE = ".gitignore"
"""Written in a new root: ``git status`` of the project never lists the cluster's
files (the passfile among them), whatever the project's own .gitignore says."""


def _ignored_by_git(root: Path) -> None:
    """``*`` in ``<root>/.gitignore``, created through a descriptor of the new,
    private root (no link followed, nothing overwritten)."""
    root_fd = open_folder(root)
    try:
        fd = os.open(
            GITIGNORE,
            os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW,
            0o644,
            dir_fd=root_fd,
        )
    except FileExistsError:
        return
    finally:
        os.close(root_fd)
    with os.fdopen(fd, "w", encoding="utf-8") as ignore:
        ignore.write("# made by migrationkit: the embedded server's files\n*\n")


def open_folder(folder: Path, *, dir_fd: int | None = None) -> int:
    """A descriptor of ``folder`` itself: a link in its place is refused, not followed.

    Deleting through it (``dir_fd=``) acts on the folder that was checked, even
    if its path is made to point elsewhere afterwards.
    """
    return os.open(folder, os.O_RDONLY | os.O_DIRECTORY | _OPEN_FLAGS, dir_fd=dir_fd)


def remove_tree_at(parent_fd: int, name: str, *, uid: int) -> bool:
    """Delete the folder ``name`` in ``parent_fd`` if it is ``uid``'s; True if gone.

    ``shutil.rmtree`` with ``dir_fd`` opens each level without following links and
    checks it is the folder it listed, so nothing outside the tree is touched.
    """
    try:
        st = os.stat(name, dir_fd=parent_fd, follow_symlinks=False)
    except FileNotFoundError:
        return True
    if not stat.S_ISDIR(st.st_mode) or st.st_uid != uid:
        return False
    shutil.rmtree(name, dir_fd=parent_fd)
    return True


def remove_empty_parents(folders: tuple[Path, ...]) -> list[Path]:
    """Remove the folders ``create_private_root`` made, innermost first, if empty."""
    removed: list[Path] = []
    for folder in reversed(folders):
        try:
            fd = open_folder(folder.parent)
        except OSError:
            break
        try:
            st = os.stat(folder.name, dir_fd=fd, follow_symlinks=False)
            if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.geteuid():
                break
            os.rmdir(folder.name, dir_fd=fd)
        except OSError:  # gone, not empty, or not ours: keep it and what is above
            break
        finally:
            os.close(fd)
        removed.append(folder)
    return removed


def reset_access(folder: Path, *, mode: int) -> None:
    """Set ``mode`` and drop any ACL entries, inherited or added, on our own folder.

    A folder created under a parent with a default ACL inherits named entries whose
    rights are limited by the mask; a later chmod that adds group bits would let
    them in. Resetting to the plain mode (and dropping the default ACL, so nothing
    created inside inherits either) rules that out.
    """
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | _OPEN_FLAGS)
    try:
        os.fchmod(fd, mode)
        for name in ("system.posix_acl_access", _DEFAULT_ACL):
            try:
                os.removexattr(fd, name)
            except OSError as exc:
                if exc.errno not in (errno.ENODATA, errno.ENOTSUP, errno.EOPNOTSUPP):
                    raise
        os.fchmod(fd, mode)
    finally:
        os.close(fd)


def _check_ancestors(folder: Path) -> None:
    """Every folder above must be one only root or we can change.

    Mode bits are not enough: the owner of a folder may rename or replace what it
    holds whatever its mode, so a parent owned by another user (``mkdir -m 755
    /tmp/u/own``) could have our root swapped for a link to a folder of their
    choosing between two commands. A folder others may write in is allowed only
    when it is sticky and root's (``/tmp``): there nobody can rename our entry.
    """
    trusted = {0, os.geteuid()}
    for parent in [folder, *folder.parents]:
        try:
            st = parent.stat()  # the caller resolved the path: no links above
        except FileNotFoundError:
            continue  # created by us later, as 0755
        if st.st_uid not in trusted:
            raise EmbeddedServerError(
                f"Cannot keep the embedded server below {parent}: that folder "
                f"belongs to {_user_name(st.st_uid)}, who could rename or replace "
                "what it holds, and so redirect what migrationkit deletes or "
                "writes. Nothing was changed. " + _WAYS_OUT
            )
        writable_by_others = st.st_mode & (stat.S_IWGRP | stat.S_IWOTH)
        if writable_by_others and not (st.st_mode & stat.S_ISVTX and st.st_uid == 0):
            raise EmbeddedServerError(
                f"Cannot keep the embedded server below {parent}: others may write "
                f"in that folder (mode {stat.filemode(st.st_mode)}, not sticky), so "
                "they could replace the server's folder with one of their own. "
                "Nothing was changed. " + _WAYS_OUT
            )


def write_private_file(
    path: Path, data: bytes, *, mode: int = 0o600, group: int | None = None
) -> None:
    """Write ``path`` in our root atomically: a fresh file, then a rename over it.

    ``group`` gives the file to a group (the server's account reads its initial
    password that way); the owner stays the invoking user.
    """
    fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            if group is not None:
                os.fchown(handle.fileno(), -1, group)
            os.fchmod(handle.fileno(), mode)
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        Path(temp).replace(path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def read_private_file(path: Path) -> bytes | None:
    """Our own regular file in our root, or None when absent; links are refused."""
    return read_owned_file(path, owner=os.geteuid(), limit=1 << 20)


def open_private_log(path: Path) -> int:
    """Our server log, for appending: a file descriptor to hand to the server."""
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | _OPEN_FLAGS, 0o600)
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode) or st.st_uid != os.geteuid():
        os.close(fd)
        raise EmbeddedServerError(f"{path} is not a file of our own; left alone.")
    return fd


def read_owned_file(path: Path, *, owner: int, limit: int = 4096) -> bytes | None:
    """At most ``limit`` bytes of a regular file of ``owner``'s; links are not followed.

    For files a less trusted account controls: a symlink, a FIFO, a device, a hard
    link to someone else's file all read as None, as does a missing file.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | _OPEN_FLAGS)
    except OSError as exc:
        if exc.errno in (errno.ENOENT, errno.ENOTDIR, errno.ELOOP, errno.EACCES):
            return None
        raise
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_uid != owner:
            return None
        return os.read(fd, limit)
    finally:
        os.close(fd)


def read_private_tail(path: Path, *, since: int, limit: int) -> bytes:
    """The end of our own file from offset ``since`` (at most ``limit`` bytes)."""
    try:
        fd = os.open(path, os.O_RDONLY | _OPEN_FLAGS)
    except OSError:
        return b""
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_uid != os.geteuid():
            return b""
        start = max(since, st.st_size - limit, 0)
        os.lseek(fd, start, os.SEEK_SET)
        return os.read(fd, st.st_size - start)
    finally:
        os.close(fd)


def make_socket_folder(*, uid: int, gid: int) -> Path:
    """A fresh folder for the server's socket, for paths too long for ``sun_path``.

    ``mkdtemp`` creates it atomically with mode 0700 and an unpredictable name, so
    no one can have made it first; it is handed to the server's account through a
    descriptor opened without following links.
    """
    temp_root = Path(tempfile.gettempdir())
    _check_ancestors(temp_root)
    folder = Path(tempfile.mkdtemp(prefix="migrationkit-", dir=temp_root))
    if (uid, gid) != (os.geteuid(), os.getegid()):
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | _OPEN_FLAGS)
        try:
            os.fchown(fd, uid, gid)
        finally:
            os.close(fd)
    return folder


def remove_owned_folder(folder: Path, *, uid: int) -> None:
    """Remove a folder we made (owned by ``uid``); anything else there is left alone."""
    try:
        fd = open_folder(folder.parent)
    except FileNotFoundError:
        return
    try:
        remove_tree_at(fd, folder.name, uid=uid)
    finally:
        os.close(fd)


def tail_lines(data: bytes, lines: int) -> str:
    """The last lines of a log for people: control characters shown as ``?``.

    The log holds text a database superuser can write (``RAISE LOG``); terminal
    escape sequences must not reach the terminal of whoever reads the error.
    """
    text = data.decode("utf-8", errors="replace")
    kept = text.splitlines()[-lines:]
    return "\n".join(
        "".join(ch if ch.isprintable() or ch == "\t" else "?" for ch in line)
        for line in kept
    )


def _user_name(uid: int) -> str:
    with contextlib.suppress(KeyError):
        return f"{pwd.getpwuid(uid).pw_name!r}"
    return f"uid {uid}"
