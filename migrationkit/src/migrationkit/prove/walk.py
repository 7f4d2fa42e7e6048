"""One scratch database walking the history forward, one revision at a time.

Every revision's proof starts from a database at its parent. The cheapest way to
have one is to be there already: the walk applies the revisions in history order
(each application *is* the check that the revision upgrades from its parent), and
each revision's round trip (up, down, up again) runs in place, leaving the walk at
that revision when it succeeds. Nothing is copied and nothing is replayed.

Data hooks put their rows in the walk's database itself, so the revisions after
a hooked one run on a database holding them, as a real database would. A replay
puts them in again on the way (``before_reaching``).

When a round trip leaves the database changed, the walk's database is dropped and
the next revision starts a new one, replaying its ancestors from an empty database
(only after a failure). A history with merges is walked the same way, each
revision from a database holding exactly its ancestors.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import sqlalchemy as sa
from alembic.script import Script

from migrationkit.prove.catalog import CatalogSnapshot, VersionTable, take_snapshot
from migrationkit.prove.history import describe, parents
from migrationkit.prove.migrator import Migrator, StepResult
from migrationkit.prove.report import (
    Block,
    Finding,
    error_line,
    revision_block,
    sql_block,
)
from migrationkit.prove.scratch import ScratchServer

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


class UpgradeFailed(Exception):  # noqa: N818 - carries a finding, not an error
    """The revision (or one it follows) does not upgrade: it cannot be reached."""

    def __init__(self, finding: Finding) -> None:
        super().__init__(finding.verdict)
        self.finding = finding


class Walk:
    """The walking database, its position, and the catalog at each position."""

    def __init__(
        self,
        *,
        scratch: ScratchServer,
        migrator: Migrator,
        version_table: VersionTable,
        setup: Sequence[str] = (),
        before_reaching: Callable[[sa.Connection, Script], Finding | None]
        | None = None,
    ) -> None:
        self.scratch = scratch
        self.before_reaching = before_reaching
        """Run before a revision is applied on the way somewhere (a replay): the
        data hooks' rows; a finding if that fails."""
        self.setup = tuple(setup)
        self.migrator = migrator
        self.version_table = version_table
        self._database: str | None = None
        self._engine: sa.Engine | None = None
        self._connection: sa.Connection | None = None
        self._applied: set[str] = set()
        self._snapshots: dict[frozenset[str], CatalogSnapshot] = {}
        self._failed: dict[str, Finding] = {}
        self._dirty = False

    # ------------------------------------------------------------------ position

    def at_parents_of(self, revision: Script) -> tuple[sa.Connection, CatalogSnapshot]:
        """The walk at exactly ``revision``'s ancestors, and the catalog there."""
        if revision.revision in self._failed:
            raise UpgradeFailed(self._failed[revision.revision])
        ancestors = self.ancestors(revision)
        if self._dirty or not self._applied <= ancestors:
            self.discard()  # past the parent (or on another branch): start again
        for script in self.migrator.history.revisions:
            if script.revision in ancestors and script.revision not in self._applied:
                self._reach(script, target=revision)
        connection = self.connection()
        return connection, self.snapshot_here()

    def at(self, revision: Script) -> tuple[sa.Connection, CatalogSnapshot]:
        """The walk at exactly ``revision`` and its ancestors, and the catalog."""
        if self._dirty or self._applied != self.ancestors(revision) | {
            revision.revision
        }:
            self.at_parents_of(revision)
            self._reach(revision, target=revision)
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
        if self._dirty or not self._applied <= wanted:
            self.discard()
        for script in self.migrator.history.revisions:
            if script.revision in wanted and script.revision not in self._applied:
                target = next(
                    r
                    for r in revisions
                    if script.revision == r.revision
                    or script.revision in self.ancestors(r)
                )
                self._reach(script, target=target)
        return self.connection(), self.snapshot_here()

    def arrived(self, revision: Script, snapshot: CatalogSnapshot) -> None:
        """The walk now holds ``revision`` too; its catalog is ``snapshot``."""
        self._applied.add(revision.revision)
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
        self._applied.add(revision.revision)

    def failed(self, revision: Script, finding: Finding) -> None:
        """``revision`` does not upgrade: remember why; the database is dropped."""
        self._failed[revision.revision] = finding
        self.discard()

    @property
    def applied(self) -> frozenset[str]:
        return frozenset(self._applied)

    def ancestors(self, revision: Script) -> set[str]:
        script = self.migrator.history.script
        found = {
            s.revision for s in script.iterate_revisions(revision.revision, "base")
        }
        return found - {revision.revision}

    # ------------------------------------------------------------------ database

    def connection(self) -> sa.Connection:
        if self._connection is None:
            if self._database is None:
                self._database = self.scratch.create(template=None)
                self._applied = set()
            self._engine = self.scratch.engine(self._database)
            self._connection = self._engine.connect()
            if not self._applied and self.setup:
                # The project's prerequisites (schemas, extensions), as its real
                # database has them before the first revision.
                with self._connection.begin():
                    for statement in self.setup:
                        self._connection.execute(sa.text(statement))
        return self._connection

    def snapshot_here(self) -> CatalogSnapshot:
        key = frozenset(self._applied)
        if key not in self._snapshots:
            self._snapshots[key] = self.snapshot(self.connection())
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
        self._applied = set()
        self._dirty = True
        return connection

    def discard(self) -> None:
        """Drop the walk's database; the next position starts from an empty one."""
        self._disconnect()
        if self._database is not None:
            self.scratch.drop(self._database)
        self._database = None
        self._applied = set()
        self._dirty = False

    def close(self) -> None:
        self._disconnect()
        self.scratch.close()

    def _disconnect(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None

    # ------------------------------------------------------------------ stepping

    def _reach(self, script: Script, *, target: Script) -> None:
        """Apply one ancestor of ``target`` on the way there."""
        if script.revision in self._failed:
            self._unreachable(target, because=script)
        if self.before_reaching is not None:
            failed = self.before_reaching(self.connection(), script)
            if failed is not None:
                self.failed(script, failed)
                self._unreachable(target, because=script)
        step = self.migrator.upgrade(self.connection(), script)
        if step.error is not None:
            self.failed(script, upgrade_failed(script, step))
            self._unreachable(target, because=script)
        self._applied.add(script.revision)

    def _unreachable(self, target: Script, *, because: Script) -> None:
        """``target`` cannot be reached: the finding names the failure that
        stopped the walk on the way, not only the revision where it happened."""
        cause = self._failed.get(because.revision)
        stopped = (
            cause.verdict
            if cause is not None
            else f"revision {describe(because)} before it fails to upgrade"
        )
        finding = Finding(
            code="upgrade",
            verdict=f"revision {describe(target)} was not reached: {stopped}",
            revision=target.revision,
            blocks=(
                revision_block(target),
                Block(title="Stopped by", lines=(stopped,)),
            ),
        )
        self._failed[target.revision] = finding
        raise UpgradeFailed(finding)


def upgrade_failed(revision: Script, step: StepResult) -> Finding:
    """The finding for a revision that does not upgrade from its parent."""
    assert step.error is not None
    start = ", ".join(parents(revision)) or "base"
    return Finding(
        code="upgrade",
        verdict=(
            f"revision {describe(revision)} fails to upgrade from {start}: "
            f"{error_line(step.error)}"
        ),
        revision=revision.revision,
        blocks=(
            revision_block(revision),
            Block(title="Error", lines=(error_line(step.error),)),
            sql_block("SQL the upgrade ran", step.sql),
        ),
    )
