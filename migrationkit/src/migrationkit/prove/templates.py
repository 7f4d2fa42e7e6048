"""A database at any revision, as a template copy instead of a replay.

``TemplateChain`` builds, lazily and once, one template database per revision: a
copy of its parent's template (``CREATE DATABASE ... TEMPLATE``, a file copy of a
few milliseconds) upgraded by that one revision through the project's ``env.py``.
Building the templates in history order *is* the check that every revision
upgrades from its parent, one at a time. Each template keeps the catalog snapshot
taken right after its upgrade, so "the catalog before revision R" is known without
looking again.

A test that needs a database at R (a round trip, a data hook) gets a copy of R's
template: its own database, which it may change and which is dropped afterwards,
so checks share nothing and run in parallel (one chain per pytest-xdist worker).
A merge revision's template starts from its first parent's and applies the other
parents' missing ancestors in history order.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

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


@dataclass(frozen=True, kw_only=True)
class Template:
    """A database at one revision (None: base), never connected to once built."""

    revision: Script | None
    database: str
    snapshot: CatalogSnapshot
    upgrade: StepResult | None = None


class UpgradeFailed(Exception):  # noqa: N818 - carries a finding, not an error
    """The revision (or one it follows) does not upgrade: there is no template."""

    def __init__(self, finding: Finding) -> None:
        super().__init__(finding.verdict)
        self.finding = finding


AfterUpgrade = Callable[[sa.Connection, Template], bool]
"""Runs on a freshly built template's connection; False means it was changed and
the template must be built again from its parent."""


class TemplateChain:
    """One template per revision on a scratch server, built on first use."""

    def __init__(
        self,
        *,
        scratch: ScratchServer,
        migrator: Migrator,
        version_table: VersionTable,
    ) -> None:
        self.scratch = scratch
        self.migrator = migrator
        self.version_table = version_table
        self._built: dict[str | None, Template] = {}
        self._failed: dict[str, Finding] = {}

    def base(self) -> Template:
        """An empty database: the state before the first revision."""
        if None not in self._built:
            name = self.scratch.create(template=None)
            with self.scratch.connection(name) as connection:
                snapshot = self.snapshot(connection)
            self._built[None] = Template(
                revision=None, database=name, snapshot=snapshot
            )
        return self._built[None]

    def is_built(self, revision: Script) -> bool:
        return revision.revision in self._built

    def before(self, revision: Script) -> Template:
        """The template a revision upgrades from (its parent's, or base)."""
        up = parents(revision)
        if not up:
            return self.base()
        if len(up) == 1:
            return self.template(self.migrator.history.get(up[0]))
        # A merge: the state "all parents applied" has no template of its own.
        return self.template(revision, after_upgrade=None, parent_only=True)

    def template(
        self,
        revision: Script,
        *,
        after_upgrade: AfterUpgrade | None = None,
        parent_only: bool = False,
    ) -> Template:
        """The template at ``revision``; raises ``UpgradeFailed`` if there is none.

        ``after_upgrade`` runs once, on the new template before it is sealed
        (the sequential runner does its round trip there, saving a copy).
        """
        key = revision.revision
        if key in self._failed:
            raise UpgradeFailed(self._failed[key])
        if key in self._built and not parent_only:
            return self._built[key]
        start, extras = self._start(revision)
        name = self.scratch.create(template=start.database)
        try:
            with self.scratch.connection(name) as connection:
                for extra in extras:
                    self._upgrade_or_fail(connection, extra)
                if parent_only:
                    snapshot = self.snapshot(connection)
                    return Template(revision=None, database=name, snapshot=snapshot)
                step = self._upgrade_or_fail(connection, revision)
                built = Template(
                    revision=revision,
                    database=name,
                    snapshot=self.snapshot(connection),
                    upgrade=step,
                )
                clean = after_upgrade is None or after_upgrade(connection, built)
        except BaseException:
            self.scratch.drop(name)
            raise
        if not clean:
            self.scratch.drop(name)
            return self.template(revision)
        self._built[key] = built
        return built

    @contextmanager
    def copy_of(self, template: Template) -> Iterator[sa.Connection]:
        """A private copy of ``template``, connected; dropped when the block ends."""
        name = self.scratch.create(template=template.database)
        try:
            with self.scratch.connection(name) as connection:
                yield connection
        finally:
            self.scratch.drop(name)

    def snapshot(self, connection: sa.Connection) -> CatalogSnapshot:
        return take_snapshot(connection, version_table=self.version_table)

    def _start(self, revision: Script) -> tuple[Template, list[Script]]:
        """Where ``revision``'s database starts, and what must be applied first."""
        up = parents(revision)
        if not up:
            return self.base(), []
        history = self.migrator.history
        first = self._parent_template(revision, up[0])
        for other in up[1:]:
            self._parent_template(revision, other)
        if len(up) == 1:
            return first, []
        script = history.script
        have = {s.revision for s in script.iterate_revisions(up[0], "base")}
        need = {
            s.revision for s in script.iterate_revisions(revision.revision, "base")
        } - {revision.revision}
        return first, [s for s in history.revisions if s.revision in need - have]

    def _parent_template(self, revision: Script, parent: str) -> Template:
        try:
            return self.template(self.migrator.history.get(parent))
        except UpgradeFailed as failed:
            finding = Finding(
                code="upgrade",
                verdict=(
                    f"revision {describe(revision)} was not reached: "
                    f"{failed.finding.revision or parent} before it fails to upgrade"
                ),
                revision=revision.revision,
                blocks=(revision_block(revision),),
            )
            self._failed[revision.revision] = finding
            raise UpgradeFailed(finding) from None

    def _upgrade_or_fail(
        self, connection: sa.Connection, revision: Script
    ) -> StepResult:
        step = self.migrator.upgrade(connection, revision)
        if step.error is None:
            return step
        start = ", ".join(parents(revision)) or "base"
        finding = Finding(
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
        self._failed[revision.revision] = finding
        raise UpgradeFailed(finding)

    def close(self) -> None:
        """Drop every template and copy (the scratch server tracks them all)."""
        self._built.clear()
        self.scratch.close()
