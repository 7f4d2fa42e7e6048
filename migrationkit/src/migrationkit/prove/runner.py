"""``Prover``: every check of one history, one method each, and the whole proof.

The pytest plugin calls the methods one test at a time (each revision its own
test, so pytest-xdist spreads them over workers, each walking its own scratch
database); ``migrationkit prove`` calls ``run``, which proves the revisions in
history order, so one walk through the history does all of it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial

import sqlalchemy as sa
from alembic.config import Config
from alembic.script import Script

from migrationkit.database import resolve_server
from migrationkit.errors import MigrationKitError
from migrationkit.prove.catalog import CatalogSnapshot, VersionTable
from migrationkit.prove.environment import EnvFailed, EnvOptions, read_env_options
from migrationkit.prove.history import History, describe, relative_path
from migrationkit.prove.hooks import DataHook, hooks_for, run_after, run_before
from migrationkit.prove.migrator import Migrator
from migrationkit.prove.models import prove_models, unregistered_models
from migrationkit.prove.models_scope import ModelsScope
from migrationkit.prove.offline import prove_offline
from migrationkit.prove.report import (
    Block,
    Finding,
    Outcome,
    ProofReport,
    Skip,
    error_line,
    split,
)
from migrationkit.prove.roundtrip import RoundTrip, prove_round_trip
from migrationkit.prove.scratch import ScratchServer
from migrationkit.prove.settings import ProveSettings, load_prove_settings
from migrationkit.prove.upgrades import UpgradeFailed, upgrade_failed
from migrationkit.prove.walk import Walk
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
        declared: ProveSettings | None = None,
    ) -> None:
        self.config = config
        self.declared = (
            declared if declared is not None else load_prove_settings(config)
        )
        self._env: EnvOptions | None = None
        self.history = History.load(config)
        self.hooks = tuple(hooks)
        self._check_hooks()
        self.migrator = Migrator(config, self.history)
        self.walk = Walk(
            scratch=scratch,
            migrator=self.migrator,
            version_table=version_table or VersionTable(),
            setup=self.declared.setup,
            stamped=self.declared.skip_revisions,
            hooked={hook.revision for hook in hooks},
            before_reaching=self._rows_on_the_way,
        )
        self._version_table_given = version_table is not None

    # ------------------------------------------------------------ one check each

    def single_head(self) -> list[Finding]:
        """One head per history: two heads of one history are a fork to merge.

        Separate histories (Alembic's multiple bases) are on purpose only when
        each says so with a branch label; otherwise a second base is as likely
        a revision started from nothing by mistake, and is reported.
        """
        histories = self.history.heads_by_history()
        forks = [heads for heads in histories if len(heads) > 1]
        unlabelled = len(histories) > 1 and any(
            not self.history.get(heads[0]).branch_labels for heads in histories
        )
        if unlabelled:
            forks = [self.history.heads]
        return [self._several_heads(heads, unlabelled=unlabelled) for heads in forks]

    def _several_heads(self, heads: Sequence[str], *, unlabelled: bool) -> Finding:
        scripts = [self.history.get(head) for head in heads]
        advice = [
            (
                'join them: `alembic merge heads -m "merge heads"`, or point one '
                "head's down_revision at the other"
            )
        ]
        if unlabelled:
            advice.append(
                "if they are separate histories on purpose (Alembic's multiple "
                "bases), give each base a branch label "
                '(branch_labels = ("billing",)) and this check accepts one head '
                "per history"
            )
        return Finding(
            code="single-head",
            verdict=(
                f"the history has {len(heads)} heads: "
                + ", ".join(describe(s) for s in scripts)
            ),
            blocks=(
                Block(
                    title="Heads",
                    lines=tuple(f"{describe(s)}  {relative_path(s)}" for s in scripts),
                ),
                Block(title="What to do", lines=tuple(advice)),
            ),
        )

    def environment(self) -> EnvOptions:
        """env.py's options, read once; raises ``EnvFailed`` when env.py fails."""
        if self._env is None:
            self._env = read_env_options(
                self.config, self.history, self.walk.connection()
            )
            if not self._version_table_given:
                self.walk.version_table = self._env.version_table
        return self._env

    def revision(self, revision_id: str) -> list[Outcome]:
        """Upgrade from the parent; up, down, up again (data hooks around it)."""
        self.environment()
        revision = self.history.get(revision_id)
        if revision.revision in self.declared.skip_revisions:
            self.walk.skip(revision)
            return [
                Skip(
                    code="round-trip",
                    revision=revision.revision,
                    reason="declared in skip_revisions: stamped, never run",
                    asked=True,
                )
            ]
        try:
            connection, before = self.walk.at_parents_of(revision)
        except UpgradeFailed as failed:
            return [failed.finding]
        hooks = hooks_for(self.hooks, revision.revision)
        irreversible = self._declared_irreversible(revision)
        if irreversible is not None:
            return self._upgrade_only(connection, revision, because=irreversible)
        # Data hooks work in the walk itself: their rows stay for the revisions
        # after it, as a real database's rows would.
        trip = self._round_trip(connection, revision, before=before, hooks=hooks)
        if trip.not_implemented:
            # A downgrade raising NotImplementedError says: irreversible, on
            # purpose (pytest-alembic's reading too). The walk stays at it.
            self.walk.arrived(revision, self.walk.snapshot(connection))
            return [
                Skip(
                    code="round-trip",
                    revision=revision.revision,
                    reason="downgrade raises NotImplementedError: irreversible",
                    asked=True,
                )
            ]
        if trip.clean and trip.at_revision is not None:
            self.walk.arrived(revision, trip.at_revision)
        elif not trip.upgraded:
            self.walk.failed(revision, trip.findings[0])
        else:
            self.walk.left_changed(revision)  # go on there, or from a copy
        return list(trip.findings)

    def _declared_irreversible(self, revision: Script) -> str | None:
        declared = self.declared
        if revision.revision in declared.irreversible:
            return f"declared irreversible: {declared.irreversible[revision.revision]}"
        minimum = declared.minimum_downgrade_revision
        if minimum is not None and (
            revision.revision == minimum
            or revision.revision in self.walk.ancestors(self.history.get(minimum))
        ):
            return f"at or below minimum_downgrade_revision {minimum}"
        return None

    def _upgrade_only(
        self, connection: sa.Connection, revision: Script, *, because: str
    ) -> list[Outcome]:
        """The upgrade is proven; the down and up again is not, as declared.

        Data hooks still put their rows in and check them after the upgrade (the
        walk replaying this revision would put them in too).
        """
        hooks = hooks_for(self.hooks, revision.revision)
        states, failed = run_before(connection, hooks, revision)
        if failed is not None:
            self.walk.discard()
            return [failed]
        step = self.migrator.upgrade(connection, revision)
        if step.error is not None:
            finding = upgrade_failed(revision, step)
            self.walk.failed(revision, finding)
            return [finding]
        self.walk.arrived(revision, self.walk.snapshot(connection))
        checked = run_after(
            connection, hooks, states, revision, when="after upgrading to"
        )
        return [
            *([checked] if checked else []),
            Skip(
                code="round-trip",
                revision=revision.revision,
                reason=f"downgrade not proven: {because}",
                asked=True,
            ),
        ]

    def offline(self, revision_id: str) -> list[Outcome]:
        revision = self.history.get(revision_id)
        if revision_id in self.declared.skip_revisions:
            return [
                Skip(
                    code="offline",
                    revision=revision_id,
                    reason="declared in skip_revisions: never run",
                    asked=True,
                )
            ]
        irreversible = self._declared_irreversible(revision) is not None
        return prove_offline(self.migrator, revision, downgrade=not irreversible)

    def models(self) -> list[Outcome]:
        env = self.environment()
        heads = self.history.heads
        if len(heads) > 1 and self.single_head():
            return [
                Skip(
                    code="models",
                    reason=(
                        f"the history has {len(heads)} heads, so no one head to "
                        "compare the models with (see single-head)"
                    ),
                )
            ]
        if not env.target_metadata:
            return [
                Skip(
                    code="models",
                    reason=(
                        "env.py sets no target_metadata: no models to compare "
                        "(set it, or leave the check out with --no-models)"
                    ),
                )
            ]
        if not heads:
            at_head = self.walk.snapshot_here()  # an empty history: empty database
            at = "base"
        else:
            scripts = [self.history.get(head) for head in heads]
            try:
                _, at_head = self.walk.at_all(scripts)
            except UpgradeFailed as failed:
                return [
                    Skip(
                        code="models",
                        reason=(
                            f"head {failed.finding.revision} cannot be reached: "
                            f"{failed.finding.verdict}"
                        ),
                    )
                ]
            at = ", ".join(heads)
        outcomes: list[Outcome] = list(
            prove_models(
                self.walk,
                head=at_head,
                at=at,
                metadatas=env.target_metadata,
                scope=ModelsScope(
                    include_name=env.include_name,
                    include_object=env.include_object,
                    database_only=self.declared.database_only,
                ),
            )
        )
        return outcomes + unregistered_models(env.target_metadata)

    # ----------------------------------------------------------------- all of it

    def run(self, *, models: bool = True, offline: bool = True) -> ProofReport:
        """Every check, in one walk through the history; no stage stops another."""
        try:
            self.environment()
        except EnvFailed as failed:
            reason = "env.py fails (see env): nothing that goes through it ran"
            return self._report(
                [failed.finding, Skip(code="upgrade", reason=reason)], checks=2
            )
        outcomes = self._stage("single-head", self.single_head)
        checks = 1
        for revision in self.history.revisions:
            outcomes += self._stage(
                "round-trip", partial(self.revision, revision.revision)
            )
            checks += 2 + len(hooks_for(self.hooks, revision.revision))
            if offline:
                outcomes += self._stage(
                    "offline", partial(self.offline, revision.revision)
                )
                checks += 1
        if models:
            outcomes += self._stage("models", self.models)
            checks += 1
        outcomes += [
            Skip(code=code, reason="left out by the command's option", asked=True)
            for code, left_out in (("models", not models), ("offline", not offline))
            if left_out
        ]
        if not self.hooks:
            outcomes.append(Skip(code="data", reason="no data hooks given", asked=True))
        return self._report(outcomes, checks=checks)

    def _report(self, outcomes: Sequence[Outcome], *, checks: int) -> ProofReport:
        findings, skips = split(outcomes)
        return ProofReport(
            server_version=self.walk.scratch.server_version(),
            revisions=len(self.history.revisions),
            checks_run=checks,
            findings=tuple(findings),
            skipped=tuple(skips),
        )

    def _stage(
        self, code: str, check: Callable[[], Sequence[Outcome]]
    ) -> list[Outcome]:
        """One check's outcomes; a crash is that check's failure, not the run's."""
        try:
            return list(check())
        except (EnvFailed, UpgradeFailed) as failed:
            return [failed.finding]
        except Exception as exc:  # noqa: BLE001 - every other stage still reports
            self.walk.discard()  # where the crash left the walk is unknown
            return [
                Finding(
                    code=code,
                    verdict=f"the {code} check crashed: {error_line(exc)}",
                    blocks=(Block(title="Error", lines=(error_line(exc),)),),
                )
            ]

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

    def _rows_on_the_way(
        self, connection: sa.Connection, revision: Script
    ) -> Finding | None:
        """A replay passes a revision with data hooks: their rows go in again, so
        the database reached holds what the walk's database held there."""
        hooks = hooks_for(self.hooks, revision.revision)
        if not hooks:
            return None
        _, failed = run_before(connection, hooks, revision)
        return failed

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
