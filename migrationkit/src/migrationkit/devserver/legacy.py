"""Clusters an earlier migrationkit made as root: moved out of the project.

That version kept a root-mode cluster's data in ``<root>/data``, run by an account
whose uid ``useradd --system`` picked (possibly one a deleted cluster had used),
and let the account through the project's folders with ACL entries, which gave a
database superuser read access to world-readable files below them. The first
start after an upgrade moves such a cluster below /var/lib/migrationkit, as new
clusters are made.
"""

from __future__ import annotations

import contextlib
import logging
import os
import stat
from dataclasses import replace
from pathlib import Path

from migrationkit.devserver.accounts import (
    ServerAccount,
    create_account,
    remove_account,
)
from migrationkit.devserver.acl import revoke
from migrationkit.devserver.files import open_folder, remove_owned_folder, reset_access
from migrationkit.devserver.machine import (
    check_cluster_folder,
    ensure_clusters_dev,
    make_cluster_folder,
)
from migrationkit.devserver.running import display_root
from migrationkit.devserver.state import ClusterState, save_state
from migrationkit.errors import EmbeddedServerError

log = logging.getLogger(__name__)


def move_legacy_cluster(root: Path, state: ClusterState) -> ClusterState:
    """Move an earlier version's root-mode cluster out of the project.

    That version kept the data in ``<root>/data``, owned by an account whose uid
    ``useradd`` may have recycled from a deleted one, and let it through the
    project's folders with ACL entries. The (stopped) cluster gets a new account
    with a never-used uid and a folder below /var/lib/migrationkit; its data is
    renamed there (same filesystem only: nothing is copied), given to the new
    account, and the old account and its ACL entries are removed. The state is
    saved before the data moves, so an interrupted move resumes here.
    """
    if state.moving_from is None:
        assert state.account is not None
        with contextlib.suppress(FileNotFoundError):  # none: initdb never ran
            data = (root / "data").lstat()
            if not stat.S_ISDIR(data.st_mode) or data.st_dev != ensure_clusters_dev():
                raise EmbeddedServerError(legacy_message(root))
        old = state.account
        new = create_account(cluster=root)
        folder = make_cluster_folder(gid=new.gid)
        state = replace(state, account=new, cluster_dir=folder, moving_from=old)
        save_state(root, state)
        log.warning(
            "moving the cluster in %s, made as root by an earlier migrationkit, to "
            "%s, run by a new account %r; the old account %r and its ACL entries "
            "go",
            display_root(root),
            folder,
            new.name,
            old.name,
        )
    return _finish_move(root, state)


def _finish_move(root: Path, state: ClusterState) -> ClusterState:
    old, new, folder = state.moving_from, state.account, state.cluster_dir
    assert old is not None
    assert new is not None
    assert folder is not None
    # first: nothing of the old account may run (or write) while its files move
    revoke_grants(state, uid=old.uid, name=old.name)
    if state.socket_dir is not None:  # the old account's; root mode needs none now
        remove_owned_folder(state.socket_dir, uid=old.uid)
    remove_account(old)
    root_fd = open_folder(root)
    folder_fd = open_folder(check_cluster_folder(folder))
    try:
        with contextlib.suppress(FileNotFoundError):
            os.rename("data", "data", src_dir_fd=root_fd, dst_dir_fd=folder_fd)
        with contextlib.suppress(FileNotFoundError):
            _give_tree(folder_fd, "data", old=old, new=new)
    finally:
        os.close(folder_fd)
        os.close(root_fd)
    os.chown(root, -1, os.getegid(), follow_symlinks=False)
    reset_access(root, mode=0o700)
    state = replace(state, moving_from=None, acl_grants=(), socket_dir=None)
    save_state(root, state)
    return state


def _give_tree(
    parent_fd: int, name: str, *, old: ServerAccount, new: ServerAccount
) -> None:
    """Give what ``old`` owns in the tree to ``new``; nothing else, no link followed."""
    top = os.stat(name, dir_fd=parent_fd, follow_symlinks=False)
    if top.st_uid == old.uid:
        os.chown(name, new.uid, new.gid, dir_fd=parent_fd, follow_symlinks=False)
    for _, dirs, files, dir_fd in os.fwalk(name, dir_fd=parent_fd):
        for entry in (*dirs, *files):
            st = os.stat(entry, dir_fd=dir_fd, follow_symlinks=False)
            if st.st_uid == old.uid:
                os.chown(entry, new.uid, new.gid, dir_fd=dir_fd, follow_symlinks=False)


def legacy_message(root: Path) -> str:
    return (
        f"The cluster in {root} was made as root by an earlier migrationkit, which "
        "kept its data in the project and let the server's account through your "
        "folders with ACL entries, so that a database superuser could read files "
        "below them. This version keeps root-mode clusters in /var/lib/migrationkit "
        "instead, and cannot move this one there (it is on another filesystem). "
        "Nothing was changed. Run `migrationkit db destroy` to stop and "
        "delete it (its data is lost; its account and ACL entries are removed), "
        "and the next command creates a new one; or set DATABASE_URL."
    )


def revoke_grants(state: ClusterState, *, uid: int, name: str) -> list[Path]:
    """Remove the ACL entries an earlier migrationkit added for this account."""
    revoked: list[Path] = []
    for grant in reversed(state.acl_grants):
        if revoke(grant, uid=uid):
            revoked.append(grant.folder)
            log.warning("removed the ACL entry user:%s from %s", name, grant.folder)
    return revoked
