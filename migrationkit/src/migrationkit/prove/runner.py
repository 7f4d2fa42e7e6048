"""``Prover``: every check of one history, one method each, and the whole proof.

The pytest plugin calls the methods one test at a time (each revision its own
test, so pytest-xdist spreads them over workers, each with its own templates);
``migrationkit prove`` calls ``run``, which does the same work in one pass and
saves a database copy per revision by round-tripping each revision in its fresh
template before sealing it (and rebuilding the template if the round trip left
it changed).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic.config import Config
from alembic.script import Script

from migrationkit.database import DatabaseTarget, UrlSource, configured_url, pgdata_dir
from migrationkit.errors import MigrationKitError
from migrationkit.prove.catalog import VersionTable
from migrationkit.prove.history import History, describe
from migrationkit.prove.hooks import DataHook, hooks_for
from migrationkit.prove.migrator import Migrator
from migrationkit.prove.models import prove_models
from migrationkit.prove.offline import prove_offline
from migrationkit.prove.report import Block, Finding, ProofReport
from migrationkit.prove.roundtrip import prove_round_trip
from migrationkit.prove.scratch import ScratchServer
from migrationkit.prove.templates import Template, TemplateChain, UpgradeFailed
from migrationkit.settings import Settings


def scratch_server(config: Config | None, *, settings: Settings) -> ScratchServer:
    """The server the project's rule names (DATABASE_URL, alembic.ini, embedded).

    Only the server is used: the harness creates databases of its own there and
    never touches the configured database.
    """
    target = configured_url(settings=settings, config=config)
    if target is None:
        from migrationkit.devserver.server import EmbeddedPostgres  # noqa: PLC0415

        server = EmbeddedPostgres(pgdata_dir(settings=settings, config=config))
        server.ensure_running()
        target = DatabaseTarget(server.url("postgres"), UrlSource.EMBEDDED)
    return ScratchServer(admin=target, settings=settings)


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
        self.chain = TemplateChain(
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
                        lines=tuple(f"{describe(s)}  {s.path}" for s in scripts),
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
        """Upgrade from the parent, then up/down/up in a private copy (with hooks)."""
        revision = self.history.get(revision_id)
        try:
            built = self.chain.template(revision)
            before = self.chain.before(revision)
        except UpgradeFailed as failed:
            return [failed.finding]
        hooks = hooks_for(self.hooks, revision.revision)
        start = before if hooks else built
        with self.chain.copy_of(start) as connection:
            return prove_round_trip(
                connection,
                chain=self.chain,
                revision=revision,
                before=before,
                after=built,
                hooks=hooks,
                at_parent=bool(hooks),
            )

    def offline(self, revision_id: str) -> list[Finding]:
        return prove_offline(self.migrator, self.history.get(revision_id))

    def models(self) -> list[Finding]:
        heads = self.history.heads
        if len(heads) != 1:
            return []  # the single-head check says why; there is no one head
        try:
            head = self.chain.template(self.history.get(heads[0]))
        except UpgradeFailed:
            return []  # the upgrade check reports it
        return prove_models(self.chain, head=head, config=self.config)

    # ----------------------------------------------------------------- all of it

    def run(self, *, models: bool = True, offline: bool = True) -> ProofReport:
        """Every check, in one pass over the history."""
        findings = self.single_head()
        checks = 1
        for revision in self.history.revisions:
            findings += self._revision_in_place(revision)
            checks += 2 + len(hooks_for(self.hooks, revision.revision))
            if offline:
                findings += self.offline(revision.revision)
                checks += 1
        if models:
            findings += self.models()
            checks += 1
        return ProofReport(
            server_version=self.chain.scratch.server_version(),
            revisions=len(self.history.revisions),
            checks_run=checks,
            findings=tuple(findings),
        )

    def close(self) -> None:
        self.chain.close()

    def _revision_in_place(self, revision: Script) -> list[Finding]:
        """The round trip in the revision's own new template, before it is sealed."""
        if hooks_for(self.hooks, revision.revision) or self.chain.is_built(revision):
            return self.revision(revision.revision)
        found: list[Finding] = []

        def round_trip(connection: sa.Connection, built: Template) -> bool:
            found.extend(
                prove_round_trip(
                    connection,
                    chain=self.chain,
                    revision=revision,
                    before=self.chain.before(revision),
                    after=built,
                )
            )
            return not found

        try:
            self.chain.template(revision, after_upgrade=round_trip)
        except UpgradeFailed as failed:
            return [failed.finding]
        return found

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
