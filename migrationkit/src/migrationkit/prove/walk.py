"""One scratch database walking the history forward, one revision at a time.

Every revision's proof starts from a database at its parent. The cheapest way to
have one is to be there already: the walk applies the revisions in history order
(each application *is* the check that the revision upgrades from its parent), and
each revision's round trip (up, down, up again) runs in place, leaving the walk at
that revision when it succeeds. Nothing is copied and nothing is replayed.

Data hooks put their rows in the walk's database itself, so the revisions after
a hooked one run on a database holding them, as a real database would. A database
reached by plain upgrades puts them in again on the way (``before_reaching``).

When a round trip leaves the database changed, the walk's database is dropped and
the next revision continues from a clean copy: a second database, the *shadow*,
only ever upgrades (plain upgrades, hooks' rows on the way, no round trips), and
the walk restarts as ``CREATE DATABASE ... TEMPLATE shadow``. The shadow is made
at the first failure only (a history that passes never has one) and moves forward
from failure to failure, so each revision is upgraded in it at most once, where
replaying every ancestor from an empty database after each failure cost a
history with a dozen leaky downgrades hundreds of extra upgrades. A history with
merges is walked the same way, each revision from a database holding exactly its
ancestors (a shadow on another branch starts again from empty).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from typing import NoReturn

import sqlalchemy as sa
from alembic.script import Script

from migrationkit.prove.catalog import (
    CatalogSnapshot,
    VersionTable,
    take_contents,
    take_snapshot,
)
from migrationkit.prove.diff import diff_snapshots
from migrationkit.prove.history import parents
from migrationkit.prove.migrator import Migrator
from migrationkit.prove.report import Finding
from migrationkit.prove.scratch import ScratchDatabase, ScratchServer
from migrationkit.prove.upgrades import UpgradeFailed, not_reached, upgrade_failed

_DROP_USER_SCHEMAS = """
DO $$
DECLARE
    schema_name text;
BEGIN
    FOR schema_name IN
        SELECT nspname FROM pg_namespace
         WHERE nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')
           AND nspname NOT LIKE 'pg\\_%'
    LOOP
        EXECUTE format('DROP SCHEMA %I CASCADE', schema_name);
    END LOOP;
END
$$
"""


class _ChainError(Exception):
    """A chain of plain upgrades failed somewhere (see ``Walk._advance``)."""


class Walk:
    """The walking database, its position, and the catalog at each position."""

    def __init__(
        self,
        *,
        scratch: ScratchServer,
        migrator: Migrator,
        version_table: VersionTable,
        setup: Sequence[str] = (),
        stamped: Collection[str] = (),
        hooked: Collection[str] = (),
        before_reaching: Callable[[sa.Connection, Script], Finding | None]
        | None = None,
    ) -> None:
        self.scratch = scratch
        self.before_reaching = before_reaching
        """Run before a revision is applied on the way somewhere (a replay): the
        data hooks' rows; a finding if that fails."""
        self.setup = tuple(setup)
        self.stamped = frozenset(stamped)
        """Revisions declared skipped: stamped on the way, never run."""
        self.hooked = frozenset(hooked)
        """Revisions with data hooks: their rows go in before them on the way."""
        self.migrator = migrator
        self.version_table = version_table
        self._here: ScratchDatabase | None = None
        self._shadow: ScratchDatabase | None = None
        self._started_over = False
        self._snapshots: dict[frozenset[str], CatalogSnapshot] = {}
        self._failed: dict[str, Finding] = {}
        self._dirty = False

    # ------------------------------------------------------------------ position

    def at_parents_of(self, revision: Script) -> tuple[sa.Connection, CatalogSnapshot]:
        """The walk at exactly ``revision``'s ancestors, and the catalog there."""
        if revision.revision in self._failed:
            raise UpgradeFailed(self._failed[revision.revision])
        self._move_to(self.ancestors(revision), target=lambda _: revision)
        return self.connection(), self.snapshot_here()

    def at(self, revision: Script) -> tuple[sa.Connection, CatalogSnapshot]:
        """The walk at exactly ``revision`` and its ancestors, and the catalog."""
        if self._dirty or self._applied != self.ancestors(revision) | {
            revision.revision
        }:
            self.at_parents_of(revision)
            self._reach(self._walking(), revision, target=revision)
        return self.connection(), self.snapshot_here()

    def at_all(
        self, revisions: Sequence[Script]
    ) -> tuple[sa.Connection, CatalogSnapshot]:
        """The walk at exactly ``revisions`` and their ancestors (all heads of
        separate histories), and the catalog there."""
        if len(revisions) == 1:
            return self.at(revisions[0])
        wanted = {r.revision for r in revisions}.union(
            *(self.ancestors(r) for r in revisions)
        )
        for revision in revisions:
            if revision.revision in self._failed:
                raise UpgradeFailed(self._failed[revision.revision])

        def target(script: Script) -> Script:
            return next(
                r
                for r in revisions
                if script.revision == r.revision or script.revision in self.ancestors(r)
            )

        self._move_to(wanted, target=target)
        return self.connection(), self.snapshot_here()

    def arrived(self, revision: Script, snapshot: CatalogSnapshot) -> None:
        """The walk now holds ``revision`` too; its catalog is ``snapshot``."""
        self._walking().applied.add(revision.revision)
        self._snapshots[frozenset(self._applied)] = snapshot

    def skip(self, revision: Script) -> None:
        """Stamp ``revision`` without running it (declared in skip_revisions)."""
        try:
            connection, _ = self.at_parents_of(revision)
        except UpgradeFailed:
            return
        step = self.migrator.stamp(connection, revision)
        if step.error is not None:
            self.failed(revision, upgrade_failed(revision, step))
            return
        self._walking().applied.add(revision.revision)

    def left_changed(self, revision: Script) -> None:
        """``revision``'s round trip failed after its first upgrade.

        The walk's database may still be as good as a clean one at
        ``revision`` (a leftover the second upgrade took back, a downgrade
        that failed and rolled back): the shadow is moved to ``revision`` (it
        would be for the copy anyway) and the two compared, catalog, version
        rows, every table's rows and every sequence's position. Equal: the walk
        goes on where it is, with no copy. Otherwise its database is dropped
        and the next revision starts from a copy of the shadow.
        """
        here = self._here
        wanted = self.ancestors(revision) | {revision.revision}
        if here is None or self._dirty:
            self.discard()
            return
        try:
            shadow = self._shadow_at(wanted, target=lambda _: revision)
        except UpgradeFailed:
            self.discard()
            return
        walked = self._open(here)
        clean = self._open(shadow)
        at_revision = self.snapshot(walked)
        try:
            same = not diff_snapshots(self.snapshot(clean), at_revision) and (
                take_contents(walked, version_table=self.version_table)
                == take_contents(clean, version_table=self.version_table)
            )
        except sa.exc.DBAPIError:  # a table it may not read: take the safe way
            same = False
        if not same:
            self.discard()
            return
        here.applied.add(revision.revision)
        self._snapshots[frozenset(here.applied)] = at_revision

    def failed(self, revision: Script, finding: Finding) -> None:
        """``revision`` does not upgrade: remember why; the database is dropped."""
        self._failed[revision.revision] = finding
        self.discard()

    @property
    def applied(self) -> frozenset[str]:
        return frozenset(self._applied)

    @property
    def _applied(self) -> set[str]:
        return self._here.applied if self._here is not None else set()

    def ancestors(self, revision: Script) -> set[str]:
        script = self.migrator.history.script
        found = {
            s.revision for s in script.iterate_revisions(revision.revision, "base")
        }
        return found - {revision.revision}

    # ------------------------------------------------------------------ database

    def connection(self) -> sa.Connection:
        return self._open(self._walking())

    def snapshot_here(self) -> CatalogSnapshot:
        connection = self.connection()
        key = frozenset(self._applied)
        if key not in self._snapshots:
            self._snapshots[key] = self.snapshot(connection)
        return self._snapshots[key]

    def snapshot(self, connection: sa.Connection) -> CatalogSnapshot:
        return take_snapshot(connection, version_table=self.version_table)

    def empty_for_reuse(self) -> sa.Connection:
        """Drop every user schema (with all in it, extensions too); a fresh start.

        The walk no longer knows where it is afterwards: the next position starts
        from a new database.
        """
        connection = self.connection()
        with connection.begin():
            connection.execute(sa.text(_DROP_USER_SCHEMAS))
        self._walking().applied = set()
        self._dirty = True
        return connection

    def discard(self) -> None:
        """Drop the walk's database; the next position starts from a clean one."""
        if self._here is not None:
            self._drop(self._here)
            self._here = None
            self._started_over = True
        self._dirty = False

    def close(self) -> None:
        for database in (self._here, self._shadow):
            if database is not None:
                database.disconnect()
        self.scratch.close()

    def _walking(self) -> ScratchDatabase:
        if self._here is None:
            self._here = ScratchDatabase(self.scratch.create(template=None))
        return self._here

    def _open(self, database: ScratchDatabase) -> sa.Connection:
        if database.connection is None:
            database.engine = self.scratch.engine(database.name)
            database.connection = database.engine.connect()
        if not database.prepared:
            database.prepared = True
            if self.setup:
                # The project's prerequisites (schemas, extensions), as its real
                # database has them before the first revision.
                with database.connection.begin():
                    for statement in self.setup:
                        database.connection.execute(sa.text(statement))
        return database.connection

    def _drop(self, database: ScratchDatabase) -> None:
        database.disconnect()
        self.scratch.drop(database.name)

    # ------------------------------------------------------------------ stepping

    def _move_to(self, wanted: set[str], *, target: Callable[[Script], Script]) -> None:
        """The walk at exactly ``wanted``: forward from where it is if it can,
        else from a copy of the shadow (after the first failure) or from empty."""
        if self._dirty or not self._applied <= wanted:
            self.discard()  # past the position (or on another branch): start again
        if self._here is None and self._started_over and wanted:
            self._here = self._copy_of_shadow(wanted, target=target)
        database = self._walking()
        for script in self.migrator.history.revisions:
            if script.revision in wanted and script.revision not in database.applied:
                self._reach(database, script, target=target(script))

    def _copy_of_shadow(
        self, wanted: set[str], *, target: Callable[[Script], Script]
    ) -> ScratchDatabase:
        """A new walking database holding exactly ``wanted``: the shadow moved
        forward to it by plain upgrades, then copied."""
        shadow = self._shadow_at(wanted, target=target)
        shadow.disconnect()  # a template must have no session open
        return ScratchDatabase(
            self.scratch.create(template=shadow.name),
            applied=set(shadow.applied),
            prepared=True,
        )

    def _shadow_at(
        self, wanted: set[str], *, target: Callable[[Script], Script]
    ) -> ScratchDatabase:
        """The shadow, moved forward by plain upgrades to hold exactly ``wanted``."""
        shadow = self._shadow
        if shadow is not None and not shadow.applied <= wanted:
            self._drop(shadow)  # on another branch: it starts again from empty
            shadow = None
        if shadow is None:
            shadow = self._shadow = ScratchDatabase(self.scratch.create(template=None))
        try:
            self._advance(shadow, wanted, target=target, chained=True)
        except _ChainError:
            # Some revision of a chain failed where the walk had applied it: go
            # again one revision at a time, so the finding names it exactly.
            self._drop(shadow)
            shadow = self._shadow = ScratchDatabase(self.scratch.create(template=None))
            self._advance(shadow, wanted, target=target, chained=False)
        return shadow

    def _advance(
        self,
        database: ScratchDatabase,
        wanted: set[str],
        *,
        target: Callable[[Script], Script],
        chained: bool,
    ) -> None:
        """Upgrade ``database`` to ``wanted``; ``chained``: runs of plain
        revisions (no hooks, no stamp, one parent: the one before) in one pass
        through env.py each."""
        chain: list[Script] = []
        for script in self.migrator.history.revisions:
            if script.revision not in wanted or script.revision in database.applied:
                continue
            if chained and self._continues(chain, script):
                chain.append(script)
                continue
            self._upgrade_chain(database, chain)
            chain = []
            if chained and self._continues(chain, script):
                chain.append(script)
            else:
                self._reach(database, script, target=target(script))
        self._upgrade_chain(database, chain)

    def _continues(self, chain: list[Script], script: Script) -> bool:
        plain = not (
            {script.revision} & (self.stamped | self.hooked | set(self._failed))
        )
        parent = parents(script)
        return plain and (
            not chain or (len(parent) == 1 and parent[0] == chain[-1].revision)
        )

    def _upgrade_chain(self, database: ScratchDatabase, chain: list[Script]) -> None:
        if not chain:
            return
        step = self.migrator.upgrade_chain(self._open(database), chain)
        if step.error is not None:
            raise _ChainError
        database.applied.update(script.revision for script in chain)

    def _reach(
        self, database: ScratchDatabase, script: Script, *, target: Script
    ) -> None:
        """Apply one ancestor of ``target`` in ``database``, on the way there."""
        if script.revision in self._failed:
            self._unreachable(target, because=script)
        connection = self._open(database)
        if script.revision in self.stamped:
            step = self.migrator.stamp(connection, script)
        else:
            if self.before_reaching is not None:
                failed = self.before_reaching(connection, script)
                if failed is not None:
                    self._lost(database, script, failed)
                    self._unreachable(target, because=script)
            step = self.migrator.upgrade(connection, script)
        if step.error is not None:
            self._lost(database, script, upgrade_failed(script, step))
            self._unreachable(target, because=script)
        database.applied.add(script.revision)

    def _lost(
        self, database: ScratchDatabase, script: Script, finding: Finding
    ) -> None:
        """``script`` cannot be applied in ``database``: that database is dropped."""
        if database is self._shadow:
            self._drop(database)
            self._shadow = None
        self.failed(script, finding)

    def _unreachable(self, target: Script, *, because: Script) -> NoReturn:
        """``target`` cannot be reached: the finding names the failure that
        stopped the walk on the way, not only the revision where it happened."""
        finding = not_reached(
            target, because=because, cause=self._failed.get(because.revision)
        )
        self._failed[target.revision] = finding
        raise UpgradeFailed(finding)
