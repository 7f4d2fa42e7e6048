"""What a cluster's root remembers: its account, socket folder and the ACLs it added.

Kept in ``<root>/cluster.json``, owned and written by the invoking user only, in a
folder the server's account cannot write: nothing a database superuser does can
change which account, which socket folder or which ACL entries migrationkit
believes are its own. It is written before each change it records is made (the
account right after it exists), so an interrupted command leaves nothing that
``migrationkit db destroy`` cannot find.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from migrationkit.devserver.accounts import ServerAccount
from migrationkit.devserver.acl import AclGrant
from migrationkit.devserver.files import read_private_file, write_private_file
from migrationkit.devserver.machine import check_cluster_folder
from migrationkit.errors import EmbeddedServerError

STATE_FILE = "cluster.json"
_FORMAT = 2  # 2: root mode keeps its data below /var/lib/migrationkit


@dataclass(frozen=True, kw_only=True)
class ClusterState:
    """One cluster's facts, as migrationkit recorded them."""

    account: ServerAccount | None
    """The server's own account (root mode); None: the server runs as us."""
    initialized: bool = False
    """initdb finished; until then a new command starts the cluster over."""
    has_password: bool = True
    """The superuser's password is in ``<root>/passfile`` (not for a cluster an
    older migrationkit made as a non-root user: that one trusts its 0700 socket)."""
    socket_dir: Path | None = None
    """A private folder for the socket, made when the data folder's path is too
    long for one; None: the socket lives in the data folder."""
    acl_grants: tuple[AclGrant, ...] = field(default_factory=tuple)
    """ACL entries an earlier migrationkit added (this one adds none); undone on
    ``destroy``."""
    cluster_dir: Path | None = None
    """Root mode: the cluster's own folder below ``/var/lib/migrationkit/clusters``
    (its data and socket). None: the data is in ``<root>/data``, as a normal user's,
    or as an earlier migrationkit kept a root-mode cluster."""
    moving_from: ServerAccount | None = None
    """The account of an earlier version's root-mode cluster whose data is being
    moved below /var/lib/migrationkit (to ``account``, a new one); the move
    resumes, or ``destroy`` removes it too, if a command was interrupted."""
    made_parents: tuple[Path, ...] = field(default_factory=tuple)
    """Folders above the root that migrationkit created; ``destroy`` removes them
    again when empty."""

    @property
    def legacy_root_mode(self) -> bool:
        """A root-mode cluster whose data an earlier version kept in the project."""
        return self.account is not None and (
            self.cluster_dir is None or self.moving_from is not None
        )


def load_state(root: Path) -> ClusterState | None:
    raw = read_private_file(root / STATE_FILE)
    if raw is None:
        return None
    try:
        data: dict[str, Any] = json.loads(raw)
        account = data["account"]
        socket_dir = data["socket_dir"]
        return ClusterState(
            account=None if account is None else ServerAccount(**account),
            initialized=bool(data["initialized"]),
            has_password=bool(data["has_password"]),
            socket_dir=None if socket_dir is None else Path(socket_dir),
            acl_grants=tuple(AclGrant.from_dict(g) for g in data["acl_grants"]),
            cluster_dir=_path_or_none(data.get("cluster_dir")),
            moving_from=_account_or_none(data.get("moving_from")),
            made_parents=tuple(Path(p) for p in data.get("made_parents", [])),
        )
    except (ValueError, KeyError, TypeError):
        raise EmbeddedServerError(
            f"{root / STATE_FILE} is not a state file migrationkit can read. Nothing "
            "was changed. Move the folder away, or delete it to start over."
        ) from None


def save_state(root: Path, state: ClusterState) -> None:
    data = {
        "format": _FORMAT,
        "account": None if state.account is None else state.account.as_dict(),
        "initialized": state.initialized,
        "has_password": state.has_password,
        "socket_dir": None if state.socket_dir is None else str(state.socket_dir),
        "acl_grants": [g.as_dict() for g in state.acl_grants],
        "cluster_dir": None if state.cluster_dir is None else str(state.cluster_dir),
        "moving_from": None
        if state.moving_from is None
        else state.moving_from.as_dict(),
        "made_parents": [str(p) for p in state.made_parents],
    }
    write_private_file(root / STATE_FILE, json.dumps(data, indent=2).encode() + b"\n")


def _account_or_none(raw: object) -> ServerAccount | None:
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise TypeError(raw)
    return ServerAccount(**raw)


def _path_or_none(raw: object) -> Path | None:
    if raw is None:
        return None
    if not isinstance(raw, str):
        raise TypeError(raw)
    return Path(raw)


def data_dir_of(root: Path, state: ClusterState | None) -> Path:
    """Where the cluster's data is: its own folder (root mode), else ``<root>/data``."""
    if state is not None and state.cluster_dir is not None:
        return check_cluster_folder(state.cluster_dir) / "data"
    return root / "data"
