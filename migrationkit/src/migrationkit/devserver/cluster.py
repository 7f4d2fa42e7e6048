"""Making, preparing and destroying one cluster: the steps behind ``EmbeddedPostgres``.

As root, the cluster's data and socket live in a folder of its own below
``/var/lib/migrationkit/clusters`` (``machine.py``), which only its account and
root may enter; the project's ``.pgdata/`` holds root's files alone, and the
account needs no access to any folder of the invoking user's. As anyone else, the
data is in ``.pgdata/data``, the user's.

``EmbeddedPostgres`` holds the cluster's lock while it calls these; each step
records what it made in the root-owned state file before the next one runs, so a
command interrupted anywhere is resumed by the next one, or undone by ``destroy``.
"""

from __future__ import annotations

import logging
import os
import pwd
import secrets
import stat
from dataclasses import replace
from pathlib import Path

from migrationkit.devserver.accounts import (
    ServerAccount,
    create_account,
    ensure_account,
    remove_account,
)
from migrationkit.devserver.acl import Grantee, folders_to_reach, may_search
from migrationkit.devserver.files import (
    GITIGNORE,
    make_socket_folder,
    open_folder,
    remove_owned_folder,
    remove_tree_at,
    write_private_file,
)
from migrationkit.devserver.legacy import legacy_message, revoke_grants
from migrationkit.devserver.machine import (
    check_cluster_folder,
    make_cluster_folder,
    reachable_binaries,
    remove_cluster_folder,
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
from migrationkit.devserver.state import (
    STATE_FILE,
    ClusterState,
    data_dir_of,
    save_state,
)
from migrationkit.errors import EmbeddedServerError

log = logging.getLogger(__name__)

_INITDB_PASSWORD = "initdb.pw"  # noqa: S105  # a file name, not a password
_OUR_FILES = (PASSFILE, _INITDB_PASSWORD, LOG, STATE_FILE, GITIGNORE)
_SOCKET_NAME = f"/.s.PGSQL.{PORT}"
_SUN_PATH_MAX = 107  # sun_path holds 108 bytes, the last one a NUL


# -- what is there ----------------------------------------------------------------


def server_binaries(state: ClusterState | None, bin_dir: Path) -> Path:
    """The binaries the server's account runs: a root-owned copy in root mode."""
    if state is None or state.account is None or state.legacy_root_mode:
        return bin_dir
    return reachable_binaries(bin_dir, library_dir(bin_dir))


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


def new_cluster(root: Path, *, made_parents: tuple[Path, ...]) -> ClusterState:
    """Record a new cluster: as root, with an account and a folder of its own first."""
    if os.geteuid() != 0:
        state = ClusterState(account=None, made_parents=made_parents)
        save_state(root, state)
        return state
    state = ClusterState(
        account=create_account(cluster=root), made_parents=made_parents
    )
    save_state(root, state)  # the account is recorded before anything else is made
    assert state.account is not None
    state = replace(state, cluster_dir=make_cluster_folder(gid=state.account.gid))
    save_state(root, state)
    return state


def adopt_own_cluster(root: Path) -> ClusterState:
    """Record a cluster an older migrationkit made as this (non-root) user."""
    state = ClusterState(account=None, initialized=True, has_password=False)
    save_state(root, state)
    return state


def prepare(root: Path, state: ClusterState, *, bin_dir: Path) -> ClusterState:
    """What a start needs: the account, its folder, the cluster, a socket folder."""
    if state.legacy_root_mode:
        raise EmbeddedServerError(legacy_message(root))
    if state.account is not None:
        ensure_account(state.account, cluster=root)
        _check_own_folder(root, state)
        _check_binaries_reachable(bin_dir, state.account)
    elif os.geteuid() == 0:
        raise EmbeddedServerError(
            f"The cluster in {root} was made to run as its owner, not as root "
            "(PostgreSQL refuses root). Run as that user, or set DATABASE_URL."
        )
    if not state.initialized:
        state = _initdb(root, state, bin_dir=bin_dir)
    return _new_socket_folder(root, state)


def _check_own_folder(root: Path, state: ClusterState) -> None:
    """The cluster's folder below /var/lib/migrationkit: root's, for its account."""
    assert state.cluster_dir is not None
    assert state.account is not None
    folder = check_cluster_folder(state.cluster_dir)
    try:
        st = folder.lstat()
    except FileNotFoundError:
        raise EmbeddedServerError(
            f"The cluster of {root} kept its data in {folder}, which is gone (was "
            "/var/lib/migrationkit not kept?). Nothing was changed. Run "
            "`migrationkit db destroy` to forget it; the next command creates a "
            "new one."
        ) from None
    wanted = (0, state.account.gid, 0o710)
    if (
        not stat.S_ISDIR(st.st_mode)
        or (
            st.st_uid,
            st.st_gid,
            stat.S_IMODE(st.st_mode),
        )
        != wanted
    ):
        raise EmbeddedServerError(
            f"{folder} is not as migrationkit made it (root's, group "
            f"{state.account.name}, mode 0710). Nothing was changed."
        )


def _check_binaries_reachable(bin_dir: Path, account: ServerAccount) -> None:
    """The account must reach its binaries without any ACL entry of ours."""
    grantee = Grantee(uid=account.uid, gids=frozenset({account.gid}))
    libraries = library_dir(bin_dir)
    targets = [bin_dir] if libraries is None else [bin_dir, libraries]
    blocked = [f for f in folders_to_reach(targets) if not may_search(f, grantee)]
    if blocked:
        raise EmbeddedServerError(
            f"The embedded server's account cannot reach its binaries in {bin_dir}: "
            f"it may not pass {blocked[0]}. migrationkit changes no folder of "
            "yours to let it through. Nothing was changed. Install PostgreSQL where "
            "every user may run it, run as a non-root user, or set DATABASE_URL."
        )


def _initdb(root: Path, state: ClusterState, *, bin_dir: Path) -> ClusterState:
    log.info(
        "initializing a new PostgreSQL %s cluster in %s (takes a few seconds)",
        major_version(bin_dir),
        display_root(root),
    )
    account = state.account
    data_dir = data_dir_of(root, state)
    _fresh_data_dir(data_dir, account)
    password = secrets.token_urlsafe(32)
    write_private_file(root / PASSFILE, f"*:*:*:{SUPERUSER}:{password}\n".encode())
    # initdb runs as the account, which may enter its own folder, not the project
    password_file = data_dir.parent / _INITDB_PASSWORD
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
    parent = open_folder(data_dir.parent)
    try:
        try:
            st = os.stat(data_dir.name, dir_fd=parent, follow_symlinks=False)
        except FileNotFoundError:
            st = None
        if st is not None:
            ours = {os.geteuid(), account.uid if account is not None else os.geteuid()}
            if not stat.S_ISDIR(st.st_mode) or st.st_uid not in ours:
                raise EmbeddedServerError(
                    f"{data_dir} is not a folder this cluster made. Nothing was "
                    "changed; move it away to let migrationkit create a fresh cluster."
                )
            remove_tree_at(parent, data_dir.name, uid=st.st_uid)
        os.mkdir(data_dir.name, 0o700, dir_fd=parent)
        if account is not None:
            os.chown(
                data_dir.name,
                account.uid,
                account.gid,
                dir_fd=parent,
                follow_symlinks=False,
            )
    finally:
        os.close(parent)


def _socket_fits(folder: Path) -> bool:
    return len(os.fsencode(folder)) + len(_SOCKET_NAME) <= _SUN_PATH_MAX


def _new_socket_folder(root: Path, state: ClusterState) -> ClusterState:
    """A fresh socket folder at every start when the data folder's path is too long.

    Root mode's data folder (below /var/lib/migrationkit) always fits.
    """
    state = drop_socket_folder(root, state)
    if _socket_fits(data_dir_of(root, state)):
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
    root: Path, state: ClusterState | None, *, root_fd: int
) -> tuple[str | None, tuple[str, ...], tuple[Path, ...]]:
    """Delete the (stopped) cluster and all it made.

    Returns the account removed (None if none was), what was done in words, and
    the folders an ACL entry was removed from. ``root_fd`` is the root, opened
    and checked by the caller: everything in it is removed through it.
    """
    account = state.account if state is not None else None
    said: list[str] = []
    removed_account = None
    if state is not None and state.moving_from is not None:
        said.append(remove_account(state.moving_from))
    if account is not None:
        # first: nothing of it may run while its files go
        outcome = remove_account(account)
        said.append(outcome)
        if outcome.endswith(" removed"):
            removed_account = account.name
    if (
        state is not None
        and state.cluster_dir is not None
        and remove_cluster_folder(state.cluster_dir)
    ):
        said.append(f"cluster folder {state.cluster_dir} removed")
    if _remove_data_in_root(root_fd):
        said.append(f"data folder {root / 'data'} removed")
    revoked: list[Path] = []
    if state is not None:
        if state.socket_dir is not None:
            remove_owned_folder(state.socket_dir, uid=server_uid(state))
        previous = state.moving_from or account
        if previous is not None:
            revoked = revoke_grants(state, uid=previous.uid, name=previous.name)
    for name in os.listdir(root_fd):  # by descriptor
        if name in _OUR_FILES or any(name.startswith(f".{n}.") for n in _OUR_FILES):
            os.unlink(name, dir_fd=root_fd)
    return removed_account, tuple(said), tuple(revoked)


def _remove_data_in_root(root_fd: int) -> bool:
    """``data`` in the root, whoever's (root mode's earlier layout, or ours)."""
    try:
        data = os.stat("data", dir_fd=root_fd, follow_symlinks=False)
    except FileNotFoundError:
        return False
    if stat.S_ISDIR(data.st_mode):
        remove_tree_at(root_fd, "data", uid=data.st_uid)
    else:
        os.unlink("data", dir_fd=root_fd)
    return True
