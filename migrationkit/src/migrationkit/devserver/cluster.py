"""Making, preparing and destroying one cluster: the steps behind ``EmbeddedPostgres``.

``EmbeddedPostgres`` holds the cluster's lock while it calls these; each step
records what it made in the root-owned state file before the next one runs, so a
command interrupted anywhere is resumed by the next one, or undone by ``destroy``.
"""

from __future__ import annotations

import logging
import os
import pwd
import secrets
import shutil
import stat
import tempfile
from dataclasses import replace
from pathlib import Path

from migrationkit.devserver.accounts import (
    ServerAccount,
    create_account,
    ensure_account,
    remove_account,
)
from migrationkit.devserver.acl import Grantee, blocking_folders, grant_search, revoke
from migrationkit.devserver.files import (
    make_socket_folder,
    remove_owned_folder,
    reset_access,
    write_private_file,
)
from migrationkit.devserver.programs import library_dir, major_version, run_program
from migrationkit.devserver.running import (
    LOG,
    PASSFILE,
    PORT,
    SUPERUSER,
    display_root,
    server_uid,
)
from migrationkit.devserver.state import STATE_FILE, ClusterState, save_state
from migrationkit.errors import EmbeddedServerError

log = logging.getLogger(__name__)

_INITDB_PASSWORD = "initdb.pw"  # noqa: S105  # a file name, not a password
_OUR_FILES = (PASSFILE, _INITDB_PASSWORD, LOG, STATE_FILE)
_SOCKET_NAME = f"/.s.PGSQL.{PORT}"
_SUN_PATH_MAX = 107  # sun_path holds 108 bytes, the last one a NUL


# -- what is there ----------------------------------------------------------------


def data_contents(data_dir: Path) -> list[str]:
    """The names in the data folder ([] when there is none)."""
    try:
        st = data_dir.lstat()
    except FileNotFoundError:
        return []
    if not stat.S_ISDIR(st.st_mode):
        raise EmbeddedServerError(
            f"{data_dir} is not a folder. Nothing was changed; move it away to let "
            "migrationkit create a fresh cluster."
        )
    return sorted(p.name for p in data_dir.iterdir())


def data_owner(data_dir: Path) -> int | None:
    try:
        st = data_dir.lstat()
    except FileNotFoundError:
        return None
    return st.st_uid if stat.S_ISDIR(st.st_mode) else None


def account_of(uid: int) -> ServerAccount:
    """The owner of a cluster migrationkit did not record (an older version's)."""
    try:
        entry = pwd.getpwuid(uid)
    except KeyError:
        return ServerAccount(name=f"uid {uid}", uid=uid, gid=uid)
    return ServerAccount(name=entry.pw_name, uid=uid, gid=entry.pw_gid)


# -- making a cluster ---------------------------------------------------------------


def check_reachable(root: Path, *, bin_dir: Path) -> None:
    """Refuse, before anything changes, a cluster whose account we could not let in.

    A new account belongs to no group and owns no folder, so ``other`` decides what
    it may search; any folder that would need an ACL grant widening someone else's
    access stops us here, before the root, the account or any ACL exists.
    """
    if os.geteuid() == 0:
        blocking_folders(_folders_to_reach(root, bin_dir), Grantee(uid=None))


def new_cluster(root: Path, *, bin_dir: Path) -> ClusterState:
    """Record a new cluster: as root, with a system account of its own first."""
    if os.geteuid() != 0:
        state = ClusterState(account=None)
        save_state(root, state)
        return state
    check_reachable(root, bin_dir=bin_dir)  # again: the folders may have changed
    state = ClusterState(account=create_account(cluster=root))
    save_state(root, state)
    return state


def _let_account_through_root(root: Path, account: ServerAccount) -> None:
    """Group ``x`` on our root for the account's own group: pass, not list or write."""
    os.chown(root, -1, account.gid, follow_symlinks=False)
    reset_access(root, mode=0o710)


def adopt_own_cluster(root: Path) -> ClusterState:
    """Record a cluster an older migrationkit made as this (non-root) user."""
    state = ClusterState(account=None, initialized=True, has_password=False)
    save_state(root, state)
    return state


def prepare(root: Path, state: ClusterState, *, bin_dir: Path) -> ClusterState:
    """What a start needs: the account, its access, the cluster, a socket folder."""
    if state.account is not None:
        ensure_account(state.account, cluster=root)
        _let_account_through_root(root, state.account)
        state = _grant_access(root, state, bin_dir=bin_dir)
    elif os.geteuid() == 0:
        raise EmbeddedServerError(
            f"The cluster in {root} was made to run as its owner, not as root "
            "(PostgreSQL refuses root). Run as that user, or set DATABASE_URL."
        )
    if not state.initialized:
        state = _initdb(root, state, bin_dir=bin_dir)
    return _new_socket_folder(root, state)


def _folders_to_reach(root: Path, bin_dir: Path) -> list[Path]:
    """Where the server's account must be able to pass (the root lets it in itself)."""
    targets = [root.parent, bin_dir]
    libraries = library_dir(bin_dir)
    if libraries is not None:
        targets.append(libraries)
    if not _socket_fits(root / "data"):
        targets.append(Path(tempfile.gettempdir()))
    return targets


def _grant_access(root: Path, state: ClusterState, *, bin_dir: Path) -> ClusterState:
    account = state.account
    assert account is not None
    grantee = Grantee(uid=account.uid, gids=frozenset({account.gid}))
    for folder in blocking_folders(_folders_to_reach(root, bin_dir), grantee):
        grant = grant_search(folder, uid=account.uid)
        state = replace(state, acl_grants=(*state.acl_grants, grant))
        save_state(root, state)
        log.warning(
            "granted account %r search-only access (ACL user:%s:--x) to %s, so the "
            "embedded server can reach its files; `migrationkit db destroy` "
            "removes it",
            account.name,
            account.name,
            folder,
        )
    return state


def _initdb(root: Path, state: ClusterState, *, bin_dir: Path) -> ClusterState:
    log.info(
        "initializing a new PostgreSQL %s cluster in %s (takes a few seconds)",
        major_version(bin_dir),
        display_root(root),
    )
    account = state.account
    data_dir = root / "data"
    _fresh_data_dir(data_dir, account)
    password = secrets.token_urlsafe(32)
    write_private_file(root / PASSFILE, f"*:*:*:{SUPERUSER}:{password}\n".encode())
    password_file = root / _INITDB_PASSWORD  # for initdb, which runs as the account
    write_private_file(
        password_file,
        f"{password}\n".encode(),
        mode=0o600 if account is None else 0o640,
        group=None if account is None else account.gid,
    )
    try:
        run_program(
            bin_dir,
            "initdb",
            "-D",
            str(data_dir),
            "-U",
            SUPERUSER,
            "-E",
            "UTF8",
            "--locale=C",
            "--auth-local=scram-sha-256",  # no trust: every role gives a password
            "--auth-host=scram-sha-256",
            f"--pwfile={password_file}",
            account=account,
            what="create the embedded server's cluster",
        )
    finally:
        password_file.unlink(missing_ok=True)
    state = replace(state, initialized=True, has_password=True)
    save_state(root, state)
    return state


def _fresh_data_dir(data_dir: Path, account: ServerAccount | None) -> None:
    """An empty data folder for the account (what a killed initdb left is cleared)."""
    try:
        st = data_dir.lstat()
    except FileNotFoundError:
        st = None
    if st is not None:
        ours = {os.geteuid(), account.uid if account is not None else os.geteuid()}
        if not stat.S_ISDIR(st.st_mode) or st.st_uid not in ours:
            raise EmbeddedServerError(
                f"{data_dir} is not a folder this cluster made. Nothing was changed; "
                "move it away to let migrationkit create a fresh cluster."
            )
        shutil.rmtree(data_dir)  # never follows links
    data_dir.mkdir(mode=0o700)
    if account is not None:
        os.chown(data_dir, account.uid, account.gid, follow_symlinks=False)


def _socket_fits(folder: Path) -> bool:
    return len(os.fsencode(folder)) + len(_SOCKET_NAME) <= _SUN_PATH_MAX


def _new_socket_folder(root: Path, state: ClusterState) -> ClusterState:
    """A fresh socket folder at every start when the data folder's path is too long."""
    state = drop_socket_folder(root, state)
    if _socket_fits(root / "data"):
        return state
    account = state.account
    folder = make_socket_folder(
        uid=os.geteuid() if account is None else account.uid,
        gid=os.getegid() if account is None else account.gid,
    )
    state = replace(state, socket_dir=folder)
    save_state(root, state)
    return state


def drop_socket_folder(root: Path, state: ClusterState) -> ClusterState:
    if state.socket_dir is None:
        return state
    remove_owned_folder(state.socket_dir, uid=server_uid(state))
    state = replace(state, socket_dir=None)
    save_state(root, state)
    return state


# -- destroying it -----------------------------------------------------------------


def destroy_cluster(
    root: Path, state: ClusterState | None
) -> tuple[str | None, tuple[Path, ...]]:
    """Delete the (stopped) cluster and all it made; (account removed, ACL folders)."""
    account = state.account if state is not None else None
    if account is not None:
        remove_account(account)  # first: nothing of it may run while files go
    data_dir = root / "data"
    if data_dir.is_symlink():
        data_dir.unlink()
    elif data_dir.exists():
        shutil.rmtree(data_dir)  # never follows links
    revoked: list[Path] = []
    if state is not None:
        if state.socket_dir is not None:
            remove_owned_folder(state.socket_dir, uid=server_uid(state))
        for grant in reversed(state.acl_grants):
            assert account is not None
            if revoke(grant, uid=account.uid):
                revoked.append(grant.folder)
                log.warning(
                    "removed the ACL entry user:%s from %s", account.name, grant.folder
                )
    for entry in root.iterdir():
        name = entry.name
        if name in _OUR_FILES or any(name.startswith(f".{n}.") for n in _OUR_FILES):
            entry.unlink()
    return (account.name if account is not None else None), tuple(revoked)
