"""POSIX ACL entries that let one account pass through a folder, widening nobody.

Earlier versions let each root-mode cluster's account through the folders above
its data with one entry, ``user:<account>:--x``, on every folder that blocked it.
That let any database superuser read world-readable files below the invoking
user's 0700 folders, so the server no longer needs any folder of the user's
(``machine.py``) and the devserver adds no entry any more. This module remains
for three jobs: ``may_search`` (can an account pass a folder: the binaries must
be reachable without help), ``revoke`` (undo the entries an earlier version
recorded, exactly, in whatever order clusters are destroyed), and granting
passage the careful way, which the tests use to set up other users and
earlier-version clusters.

Granting needs care. A named entry counts only through the ACL mask, and the mask
also limits every other named entry and the owning group. When the mask lacks
``x`` and some other such entry holds it (``group:probe:rwx mask::r--``), giving
an entry its ``x`` would let them in too: ``grant_search`` refuses. Each grant is
recorded (the ACL before and after) so that it can be undone.
"""

from __future__ import annotations

import base64
import contextlib
import errno
import fcntl
import grp
import os
import pwd
import struct
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from migrationkit.errors import EmbeddedServerError

_XATTR = "system.posix_acl_access"
_VERSION = 2
USER_OBJ, USER, GROUP_OBJ, GROUP, MASK, OTHER = 0x01, 0x02, 0x04, 0x08, 0x10, 0x20
_NO_ID = 0xFFFFFFFF
_SEARCH = 0o1
_GROUP_CLASS = (USER, GROUP_OBJ, GROUP)


class AclEntry(NamedTuple):
    tag: int
    perms: int
    ident: int


@dataclass(frozen=True, kw_only=True)
class Grantee:
    """Who must get through: an account that exists, or one about to be created."""

    uid: int | None
    """None: an account not created yet (it will match no entry but ``other``)."""
    gids: frozenset[int] = frozenset()


@dataclass(frozen=True, kw_only=True)
class AclGrant:
    """One folder's ACL before and after our entry, so that it can be undone."""

    folder: Path
    before: bytes | None
    """None: the folder had no ACL, only its mode."""
    after: bytes

    def as_dict(self) -> dict[str, str | None]:
        return {
            "folder": str(self.folder),
            "before": _b64(self.before),
            "after": _b64(self.after),
        }

    @classmethod
    def from_dict(cls, raw: dict[str, str | None]) -> AclGrant:
        before, after, folder = raw.get("before"), raw["after"], raw["folder"]
        assert after is not None
        assert folder is not None
        return cls(
            folder=Path(folder),
            before=None if before is None else base64.b64decode(before),
            after=base64.b64decode(after),
        )


class AclWouldWidenError(EmbeddedServerError):
    """Letting the server's account through would widen someone else's access."""


def folders_to_reach(targets: Iterable[Path]) -> list[Path]:
    """Every folder from ``/`` down to each target, each once, outermost first."""
    seen: dict[Path, None] = {}
    for target in targets:
        for folder in [*reversed(target.parents), target]:
            seen.setdefault(folder, None)
    return list(seen)


def blocking_folders(targets: Iterable[Path], grantee: Grantee) -> list[Path]:
    """The folders on the way to ``targets`` that ``grantee`` cannot search.

    Raises ``AclWouldWidenError`` for the first one that cannot be opened to it
    without widening someone else's rights, before anything is changed.
    """
    blocked = [
        folder
        for folder in folders_to_reach(targets)
        if folder.exists() and not may_search(folder, grantee)  # we make others 0755
    ]
    for folder in blocked:
        _with_search_for(folder, _read(folder)[0], uid=grantee.uid)
    return blocked


def may_search(folder: Path, grantee: Grantee) -> bool:
    """POSIX.1e access check for ``x`` on ``folder`` (owner, named, groups, other)."""
    st = folder.stat()
    entries, _ = _read(folder)
    perms = {(e.tag, e.ident): e.perms for e in entries}
    if grantee.uid is not None and st.st_uid == grantee.uid:
        return bool(perms[USER_OBJ, _NO_ID] & _SEARCH)
    mask = perms.get((MASK, _NO_ID), 0o7)
    if grantee.uid is not None and (USER, grantee.uid) in perms:
        return bool(perms[USER, grantee.uid] & mask & _SEARCH)
    groups = [
        e.perms
        for e in entries
        if (e.tag == GROUP_OBJ and st.st_gid in grantee.gids)
        or (e.tag == GROUP and e.ident in grantee.gids)
    ]
    if groups:
        return any(p & mask & _SEARCH for p in groups)
    return bool(perms[OTHER, _NO_ID] & _SEARCH)


def grant_search(folder: Path, *, uid: int) -> AclGrant:
    """Add ``user:<uid>:--x`` to ``folder`` (re-checked now, refused if it widens)."""
    try:
        with _exclusive(folder):
            entries, before = _read(folder)
            after = _encode(_with_search_for(folder, entries, uid=uid))
            os.setxattr(folder, _XATTR, after)
    except OSError as exc:
        raise EmbeddedServerError(
            f"The embedded server's account cannot enter {folder}, and granting it "
            f"passage with an ACL entry failed: {exc.strerror}. Nothing else was "
            "changed. Move the project below folders others may enter, run as a "
            "non-root user, or set DATABASE_URL to use your own PostgreSQL."
        ) from None
    return AclGrant(folder=folder, before=before, after=after)


def revoke(grant: AclGrant, *, uid: int) -> bool:
    """Undo ``grant``, removing this account's entry and no one else's.

    Several clusters may have added entries to one folder, and they are destroyed
    in any order. When nothing but our entry (and the mask it needed) differs
    from the ACL before our grant, that ACL comes back exactly; when other
    entries came or went since, only ours goes, and an ACL left with no named
    entry becomes the plain mode again (no stray ``mask::--x``).
    Returns False when the folder is gone.
    """
    try:
        with _exclusive(grant.folder):
            return _revoke_locked(grant, uid=uid)
    except FileNotFoundError:
        return False


def _revoke_locked(grant: AclGrant, *, uid: int) -> bool:
    entries, _ = _read(grant.folder)
    kept = [e for e in entries if (e.tag, e.ident) != (USER, uid)]
    before = _read_raw(grant.folder, grant.before)
    if _without_mask(kept) == _without_mask(before):
        restored = _encode(before)
    elif any(e.tag in (USER, GROUP) for e in kept):
        if len(kept) == len(entries):
            return True
        restored = _encode(_narrowed_mask(kept, before))
    else:  # a minimal ACL is the plain mode again; the kernel drops the xattr
        restored = _encode(e for e in kept if e.tag in (USER_OBJ, GROUP_OBJ, OTHER))
    os.setxattr(grant.folder, _XATTR, restored)
    return True


def _narrowed_mask(kept: list[AclEntry], before: list[AclEntry]) -> list[AclEntry]:
    """``kept`` with the mask's ``x`` taken back if only our kind of entry needed it.

    A grant widens the mask by ``x`` only when no other entry has ``x`` (else it
    is refused), and each of our entries is exactly ``--x``. So when the mask had
    no ``x`` before this grant, or a ``--x`` entry of another cluster's that is
    gone now gave it one, and nothing left holds ``x``, the ``x`` was ours to
    take back: the folder shows its old group bits, whichever cluster went first.
    """
    mask = next((e for e in kept if e.tag == MASK), None)
    if mask is None or not mask.perms & _SEARCH:
        return kept
    if any(e.perms & _SEARCH for e in kept if e.tag in _GROUP_CLASS):
        return kept
    before_mask = next((e for e in before if e.tag == MASK), None)
    ours_gone = any(
        e.tag == USER and e.perms == _SEARCH and e not in kept for e in before
    )
    if before_mask is not None and before_mask.perms & _SEARCH and not ours_gone:
        return kept
    narrowed = AclEntry(MASK, mask.perms & ~_SEARCH, _NO_ID)
    return sorted([*(e for e in kept if e.tag != MASK), narrowed])


def _read_raw(folder: Path, raw: bytes | None) -> list[AclEntry]:
    """The entries of a recorded ACL; None: the folder's mode at the time, which
    the owner, group and other entries of today's ACL still hold."""
    if raw is not None:
        return _decode(raw)
    entries, _ = _read(folder)
    minimal = (USER_OBJ, OTHER)
    group_obj = _group_obj(entries)
    return sorted([*(e for e in entries if e.tag in minimal), group_obj])


def _without_mask(entries: Iterable[AclEntry]) -> list[AclEntry]:
    return sorted(e for e in entries if e.tag != MASK)


@contextlib.contextmanager
def _exclusive(folder: Path) -> Iterator[None]:
    """Hold ``flock`` on ``folder`` while its ACL is read, changed and written.

    Clusters below one shared folder (a clone in a private temporary folder, test
    runs in parallel) grant and revoke entries on it at the same time; without
    the lock one process's write could drop the entry another just added.
    """
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


def _with_search_for(
    folder: Path, entries: Sequence[AclEntry], *, uid: int | None
) -> list[AclEntry]:
    ours = next((e for e in entries if e.tag == USER and e.ident == uid), None)
    others = [e for e in entries if e.tag in _GROUP_CLASS and e != ours]
    mask = next((e for e in entries if e.tag == MASK), None)
    if mask is None:  # a plain mode: the new mask is the owning group's rights
        new_mask = _group_obj(entries).perms | _SEARCH
    elif mask.perms & _SEARCH:
        new_mask = mask.perms
    else:
        widened = [e for e in others if e.perms & _SEARCH]
        if widened:
            raise AclWouldWidenError(_widening_message(folder, mask, widened))
        new_mask = mask.perms | _SEARCH
    kept = [e for e in entries if e.tag != MASK and e != ours]
    ident = _NO_ID if uid is None else uid  # None: only checking, never written
    mine = AclEntry(USER, (ours.perms if ours else 0) | _SEARCH, ident)
    return sorted([*kept, mine, AclEntry(MASK, new_mask, _NO_ID)])


def _widening_message(folder: Path, mask: AclEntry, widened: list[AclEntry]) -> str:
    names = ", ".join(_describe(e) for e in widened)
    wider = _rwx(mask.perms | _SEARCH)
    return (
        f"The embedded server runs as a system account of its own (PostgreSQL "
        f"refuses to run as root), and that account cannot enter {folder}. Letting "
        f"it through needs x in the folder's ACL mask (mask::{_rwx(mask.perms)}), "
        f"and that would also let in {names}, whom the mask keeps out today. "
        "Nothing was changed. Ways out: move the project (or MIGRATIONKIT_PGDATA) "
        "below folders the server's account may enter; run as a non-root user; set "
        "DATABASE_URL to use your own PostgreSQL; or, if those entries may enter, "
        f"widen the mask yourself (setfacl -m m::{wider} '{folder}') and migrationkit "
        "will add only its own entry."
    )


def _describe(entry: AclEntry) -> str:
    if entry.tag == GROUP_OBJ:
        return f"the owning group (group::{_rwx(entry.perms)})"
    if entry.tag == USER:
        with contextlib.suppress(KeyError):
            return f"user:{pwd.getpwuid(entry.ident).pw_name}:{_rwx(entry.perms)}"
    if entry.tag == GROUP:
        with contextlib.suppress(KeyError):
            return f"group:{grp.getgrgid(entry.ident).gr_name}:{_rwx(entry.perms)}"
    kind = "user" if entry.tag == USER else "group"
    return f"{kind}:{entry.ident}:{_rwx(entry.perms)}"


def _rwx(perms: int) -> str:
    return "".join(
        c if perms & bit else "-" for c, bit in zip("rwx", (4, 2, 1), strict=True)
    )


def _group_obj(entries: Iterable[AclEntry]) -> AclEntry:
    return next(e for e in entries if e.tag == GROUP_OBJ)


def _read(folder: Path) -> tuple[list[AclEntry], bytes | None]:
    """The folder's ACL entries, and its raw ACL (None: mode bits only)."""
    try:
        raw = os.getxattr(folder, _XATTR)
    except OSError as exc:
        if exc.errno not in (errno.ENODATA, errno.ENOTSUP, errno.EOPNOTSUPP):
            raise
        mode = folder.stat().st_mode
        return [
            AclEntry(USER_OBJ, (mode >> 6) & 0o7, _NO_ID),
            AclEntry(GROUP_OBJ, (mode >> 3) & 0o7, _NO_ID),
            AclEntry(OTHER, mode & 0o7, _NO_ID),
        ], None
    return _decode(raw), raw


def _decode(raw: bytes) -> list[AclEntry]:
    count = (len(raw) - 4) // 8
    return [AclEntry(*struct.unpack_from("<HHI", raw, 4 + 8 * i)) for i in range(count)]


def _encode(entries: Iterable[AclEntry]) -> bytes:
    return struct.pack("<I", _VERSION) + b"".join(
        struct.pack("<HHI", *entry) for entry in sorted(entries)
    )


def _b64(raw: bytes | None) -> str | None:
    return None if raw is None else base64.b64encode(raw).decode("ascii")
