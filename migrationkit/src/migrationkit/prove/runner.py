"""``Prover``: every check of one history, one method each, and the whole proof.

The pytest plugin calls the methods one test at a time (each revision its own
test, so pytest-xdist spreads them over workers, each walking its own scratch
database); ``migrationkit prove`` calls ``run``, which proves the revisions in
history order, so one walk through the history does all of it.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic.config import Config
from alembic.script import Script

from migrationkit.database import resolve_server
from migrationkit.errors import MigrationKitError
from migrationkit.prove.catalog import CatalogSnapshot, VersionTable
from migrationkit.prove.history import History, describe, relative_path
from migrationkit.prove.hooks import DataHook, hooks_for
from migrationkit.prove.migrator import Migrator
from migrationkit.prove.models import prove_models
from migrationkit.prove.offline import prove_offline
from migrationkit.prove.report import Block, Finding, ProofReport
from migrationkit.prove.roundtrip import RoundTrip, prove_round_trip
from migrationkit.prove.scratch import ScratchServer
from migrationkit.prove.walk import UpgradeFailed, Walk
from migrationkit.settings import Settings


def scratch_server(config: Config | None, *, settings: Settings) -> ScratchServer:
    """The server the project's rule names (DATABASE_URL, alembic.ini, embedded).

    Only the server is used: the harness creates databases of its own there and
    never touches the configured database.
    """
    return ScratchServer(
        admin=resolve_server(settings=settings, config=config), settings=settings
    )


class Prover:
    """One Alembic history proven on one scratch server."""

    def __init__(
        self,
        config: Config,
        *,
        scratch: ScratchServer,
        hooks: Sequence[DataHook] = (),
        version_table: VersionTable | None = None,
    ) -> None:
        self.config = config
        self.history = History.load(config)
        self.hooks = tuple(hooks)
        self._check_hooks()
        self.migrator = Migrator(config, self.history)
        self.walk = Walk(
            scratch=scratch,
            migrator=self.migrator,
            version_table=version_table or VersionTable(),
        )

    # ------------------------------------------------------------ one check each

    def single_head(self) -> list[Finding]:
        heads = self.history.heads
        if len(heads) == 1:
            return []
        scripts = [self.history.get(head) for head in heads]
        return [
            Finding(
                code="single-head",
                verdict=(
                    f"the history has {len(heads)} heads: "
                    + ", ".join(describe(s) for s in scripts)
                ),
                blocks=(
                    Block(
                        title="Heads",
                        lines=tuple(
                            f"{describe(s)}  {relative_path(s)}" for s in scripts
                        ),
                    ),
                    Block(
                        title="What to do",
                        lines=(
                            (
                                'join them: `alembic merge heads -m "merge heads"`,'
                                " or point one head's down_revision at the other"
                            ),
                        ),
                    ),
                ),
            )
        ]

    def revision(self, revision_id: str) -> list[Finding]:
        """Upgrade from the parent; up, down, up again (in a copy, with data hooks)."""
        revision = self.history.get(revision_id)
        try:
            connection, before = self.walk.at_parents_of(revision)
        except UpgradeFailed as failed:
            return [failed.finding]
        hooks = hooks_for(self.hooks, revision.revision)
        if hooks:
            with self.walk.copy() as copy:
                trip = self._round_trip(copy, revision, before=before, hooks=hooks)
            return list(trip.findings)
        trip = self._round_trip(connection, revision, before=before)
        if trip.clean and trip.at_revision is not None:
            self.walk.arrived(revision, trip.at_revision)
        elif not trip.upgraded:
            self.walk.failed(revision, trip.findings[0])
        else:
            self.walk.discard()  # the round trip left it changed
        return list(trip.findings)

    def offline(self, revision_id: str) -> list[Finding]:
        return prove_offline(self.migrator, self.history.get(revision_id))

    def models(self) -> list[Finding]:
        heads = self.history.heads
        if len(heads) != 1:
            return []  # the single-head check says why; there is no one head
        head = self.history.get(heads[0])
        try:
            _, at_head = self.walk.at(head)
        except UpgradeFailed:
            return []  # the upgrade check reports it
        return prove_models(
            self.walk,
            head=at_head,
            at=head.revision,
            config=self.config,
        )

    # ----------------------------------------------------------------- all of it

    def run(self, *, models: bool = True, offline: bool = True) -> ProofReport:
        """Every check, in one walk through the history."""
        findings = self.single_head()
        checks = 1
        for revision in self.history.revisions:
            findings += self.revision(revision.revision)
            checks += 2 + len(hooks_for(self.hooks, revision.revision))
            if offline:
                findings += self.offline(revision.revision)
                checks += 1
        if models:
            findings += self.models()
            checks += 1
        skipped = [
            code
            for code, left_out in (
                ("models", not models),
                ("offline", not offline),
                ("data", not self.hooks),
            )
            if left_out
        ]
        return ProofReport(
            server_version=self.walk.scratch.server_version(),
            revisions=len(self.history.revisions),
            checks_run=checks,
            findings=tuple(findings),
            skipped=tuple(skipped),
        )

    def close(self) -> None:
        self.walk.close()

    def _round_trip(
        self,
        connection: sa.Connection,
        revision: Script,
        *,
        before: CatalogSnapshot,
        hooks: Sequence[DataHook] = (),
    ) -> RoundTrip:
        return prove_round_trip(
            connection,
            migrator=self.migrator,
            revision=revision,
            before=before,
            snapshot=self.walk.snapshot,
            hooks=hooks,
        )

    def _check_hooks(self) -> None:
        known = set(self.history.ids())
        unknown = sorted({hook.revision for hook in self.hooks} - known)
        if unknown:
            raise MigrationKitError(
                f"Data hooks name revision(s) {', '.join(unknown)}, which the "
                f"history in {self.history.script.dir} does not have."
            )


def prove(
    config: Config,
    *,
    settings: Settings,
    hooks: Sequence[DataHook] = (),
    models: bool = True,
    offline: bool = True,
) -> ProofReport:
    """Prove ``config``'s history on scratch databases, dropped afterwards."""
    prover = Prover(
        config, scratch=scratch_server(config, settings=settings), hooks=hooks
    )
    try:
        return prover.run(models=models, offline=offline)
    finally:
        prover.close()
