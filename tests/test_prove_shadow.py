"""After a failed round trip the walk goes on from a clean copy, not a replay.

A round trip that leaves the database changed cannot be walked on from: the next
revision would start from a catalog the history never builds. prove used to drop
the walk's database and replay every ancestor from empty, once per failure; a
history with a dozen leaky downgrades (CKAN's) paid hundreds of extra upgrades.
Now a shadow database that only upgrades is moved forward from failure to
failure and copied, and when the failed round trip's database is as good as the
shadow's (same catalog, rows and sequences) the walk simply goes on in it. These
tests pin what that must keep: each revision after a failure is proven from
exactly its ancestors (so each leaky downgrade is judged alone), the data hooks'
rows and the declared skips are on the way, rows the round trip doubled are not
walked on, and no revision is upgraded in the shadow twice.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import sqlalchemy as sa
from alembic.config import Config
from alembic.script import Script

from migrationkit.prove import DataHook, ProofReport, Prover
from migrationkit.prove.migrator import StepResult
from migrationkit.prove.scratch import ScratchServer
from migrationkit.prove.settings import ProveSettings
from tests.helpers import SQL_REVISION, write_chain_project

CREATE = ("CREATE TABLE items (name text)", "DROP TABLE items")
NOTHING = ("SELECT 1", "SELECT 1")
BROKEN = ("SELECT no_such_function()", "SELECT 1")
NOT_NULL_COLUMN = (
    "ALTER TABLE items ADD COLUMN price integer NOT NULL",
    "ALTER TABLE items DROP COLUMN price",
)


def leaky(name: str) -> tuple[str, str]:
    """An upgrade its downgrade does not undo (hidden by IF NOT EXISTS)."""
    return (f"CREATE SEQUENCE IF NOT EXISTS {name}", "SELECT 1")


def write_project(folder: Path, revisions: list[tuple[str, str]]) -> Config:
    """(upgrade SQL, downgrade SQL) in order, as revisions r1, r2, ..."""
    return write_chain_project(folder, SQL_REVISION, revisions)


class CountedProof:
    """A proof with every upgrade counted by revision (the walk's and the
    shadow's alike), and the scratch databases it made."""

    def __init__(
        self,
        config: Config,
        scratch: ScratchServer,
        *,
        hooks: tuple[DataHook, ...] = (),
        declared: ProveSettings | None = None,
    ) -> None:
        self.upgrades: Counter[str] = Counter()
        self.databases = 0
        self.scratch = scratch
        create = scratch.create

        def counted_create(*, template: str | None) -> str:
            self.databases += 1
            return create(template=template)

        scratch.create = counted_create  # type: ignore[method-assign]
        self.prover = Prover(config, scratch=scratch, hooks=hooks, declared=declared)
        upgrade = self.prover.migrator.upgrade

        def counted(connection: sa.Connection, revision: Script) -> StepResult:
            self.upgrades[revision.revision] += 1
            return upgrade(connection, revision)

        self.prover.migrator.upgrade = counted  # type: ignore[method-assign]
        chain = self.prover.migrator.upgrade_chain

        def counted_chain(
            connection: sa.Connection, revisions: Sequence[Script]
        ) -> StepResult:
            self.upgrades.update(revision.revision for revision in revisions)
            return chain(connection, revisions)

        self.prover.migrator.upgrade_chain = counted_chain  # type: ignore[method-assign]

    def run(self) -> ProofReport:
        try:
            return self.prover.run(models=False, offline=False)
        finally:
            self.prover.close()


def codes(report: ProofReport) -> list[tuple[str, str | None]]:
    return [(f.code, f.revision) for f in report.findings]


def test_each_leaky_downgrade_is_judged_from_a_clean_parent(
    scratch: ScratchServer, tmp_path: Path
) -> None:
    """Three leaky downgrades: each finding names only its own leftover (a walk
    going on from a dirty database would carry r2's into r4's comparison),
    and the revisions after them are proven and pass."""
    history = [
        CREATE,
        leaky("left_by_r2"),
        NOTHING,
        leaky("left_by_r4"),
        NOTHING,
        leaky("left_by_r6"),
        NOTHING,
    ]
    proof = CountedProof(write_project(tmp_path, history), scratch)
    report = proof.run()
    assert codes(report) == [
        ("round-trip", "r2"),
        ("round-trip", "r4"),
        ("round-trip", "r6"),
    ], report.render()
    for finding in report.findings:
        assert "(1 added)" in finding.verdict, finding.render()
        assert f"left_by_{finding.revision}" in finding.render()
    assert report.checks_run == 1 + 2 * len(history)
    assert not proof.scratch.created, "every scratch database is dropped"


def test_no_revision_is_upgraded_twice_on_the_way(
    scratch: ScratchServer, tmp_path: Path
) -> None:
    """Twice in its own round trip, at most once in the shadow: a replay from
    empty after each of the three failures upgraded r1 five times."""
    history = [CREATE, leaky("a"), leaky("b"), leaky("c"), NOTHING]
    proof = CountedProof(write_project(tmp_path, history), scratch)
    report = proof.run()
    assert codes(report) == [
        ("round-trip", "r2"),
        ("round-trip", "r3"),
        ("round-trip", "r4"),
    ], report.render()
    assert max(proof.upgrades.values()) <= 3, proof.upgrades
    assert proof.upgrades["r1"] == 3, proof.upgrades  # up, up again, the shadow's


def test_the_shadow_puts_the_hooks_rows_in_on_the_way(
    scratch: ScratchServer, tmp_path: Path
) -> None:
    """Rows a hook put in before r2 are in the copy r5 starts from after two
    failures, so r5's NOT NULL column meets them as a deploy would."""

    def three_items(connection: sa.Connection) -> int:
        connection.execute(sa.text("INSERT INTO items VALUES ('a'), ('b'), ('c')"))
        return 3

    history = [CREATE, NOTHING, leaky("a"), leaky("b"), NOT_NULL_COLUMN]
    proof = CountedProof(
        write_project(tmp_path, history),
        scratch,
        hooks=(DataHook(revision="r2", before=three_items),),
    )
    report = proof.run()
    assert codes(report) == [
        ("round-trip", "r3"),
        ("round-trip", "r4"),
        ("upgrade", "r5"),
    ], report.render()
    assert "contains null values" in report.findings[2].verdict


def test_a_declared_skip_is_stamped_on_the_way(
    scratch: ScratchServer, tmp_path: Path
) -> None:
    """r2 is declared skipped (its upgrade would fail); after r3's failure the
    shadow passes r2 by stamping it, as the walk did, and r4 is reached."""
    history = [CREATE, BROKEN, leaky("a"), NOTHING]
    proof = CountedProof(
        write_project(tmp_path, history),
        scratch,
        declared=ProveSettings(skip_revisions=("r2",)),
    )
    report = proof.run()
    assert codes(report) == [("round-trip", "r3")], report.render()
    assert proof.upgrades["r2"] == 0, proof.upgrades
    assert proof.upgrades["r4"] == 2, proof.upgrades


def test_the_walk_goes_on_where_the_second_upgrade_took_the_leftover_back(
    scratch: ScratchServer, tmp_path: Path
) -> None:
    """r2's leftover sequence is there after its second upgrade as after a
    plain one: nothing to copy, two databases in all (the walk, the shadow)."""
    history = [CREATE, leaky("a"), NOTHING, NOTHING]
    proof = CountedProof(write_project(tmp_path, history), scratch)
    report = proof.run()
    assert codes(report) == [("round-trip", "r2")], report.render()
    assert proof.databases == 2


SEED_AND_LEAK = (
    (
        "DO $$ BEGIN CREATE SEQUENCE IF NOT EXISTS leftover; "
        "INSERT INTO items VALUES ('seed'); END $$"
    ),
    "SELECT 1",
)
UNIQUE_NAMES = (
    "CREATE UNIQUE INDEX items_name ON items (name)",
    "DROP INDEX items_name",
)


def test_rows_the_round_trip_doubled_are_not_walked_on(
    scratch: ScratchServer, tmp_path: Path
) -> None:
    """r2's downgrade leaves its sequence and its seed row; upgrading again
    inserts the row a second time. The catalog is as a plain upgrade leaves it,
    the rows are not: r3's unique index must be proven on one seed row (a copy
    of the shadow), not fail on the two of the round trip."""
    history = [CREATE, SEED_AND_LEAK, UNIQUE_NAMES]
    proof = CountedProof(write_project(tmp_path, history), scratch)
    report = proof.run()
    assert codes(report) == [("round-trip", "r2")], report.render()
    assert proof.databases == 3  # the walk, the shadow, the copy r3 starts from
