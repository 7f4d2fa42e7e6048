"""Data hooks carry their rows forward, as a real database would.

Issue 16: a data hook's rows used to live in a private copy of the database,
so a later revision that breaks on existing rows (a NOT NULL column added with
no default, a unique index over duplicates) passed the proof and failed the
deploy. Now the rows stay in the walk: every revision after the hooked one runs
on a database holding them, a replay after a failure puts them in again, and a
revision that cannot be reached says which earlier failure stopped the walk.
Each test writes a small project into ``tmp_path``.
"""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from alembic.config import Config

from migrationkit.prove import DataHook, ProofReport, Prover
from migrationkit.prove.scratch import ScratchServer
from tests.helpers import SQL_REVISION, write_chain_project

CREATE = ("CREATE TABLE items (name text)", "DROP TABLE items")
NOTHING = ("SELECT 1", "SELECT 1")
NOT_NULL_COLUMN = (
    "ALTER TABLE items ADD COLUMN price integer NOT NULL",
    "ALTER TABLE items DROP COLUMN price",
)
LEAKY = ("CREATE SEQUENCE IF NOT EXISTS leftover", "SELECT 1")


def write_project(folder: Path, revisions: list[tuple[str, str]]) -> Config:
    """(upgrade SQL, downgrade SQL) in order, as revisions r1, r2, ..."""
    return write_chain_project(folder, SQL_REVISION, revisions)


def three_items(connection: sa.Connection) -> int:
    connection.execute(sa.text("INSERT INTO items VALUES ('a'), ('b'), ('c')"))
    return 3


def items_kept(connection: sa.Connection, items: int) -> None:
    found = connection.scalar(sa.text("SELECT count(*) FROM items"))
    assert found == items, f"{found} items instead of {items}"


ITEMS_AT_R2 = (DataHook(revision="r2", before=three_items, after=items_kept),)


def prove(
    config: Config, scratch: ScratchServer, hooks: tuple[DataHook, ...]
) -> ProofReport:
    prover = Prover(config, scratch=scratch, hooks=hooks)
    try:
        return prover.run(models=False, offline=False)
    finally:
        prover.close()


def codes(report: ProofReport) -> list[tuple[str, str | None]]:
    return [(f.code, f.revision) for f in report.findings]


def test_a_later_revision_runs_on_the_hooks_rows(
    scratch: ScratchServer, tmp_path: Path
) -> None:
    """r3 adds a NOT NULL column with no default: fine on an empty table, and
    refused by PostgreSQL on the three rows r2's hook left, as a deploy would be."""
    history = [CREATE, NOTHING, NOT_NULL_COLUMN]
    assert prove(write_project(tmp_path / "empty", history), scratch, ()).ok
    report = prove(write_project(tmp_path / "rows", history), scratch, ITEMS_AT_R2)
    assert codes(report) == [("upgrade", "r3")], report.render()
    assert "contains null values" in report.findings[0].verdict


def test_was_not_reached_names_the_failure_that_stopped_the_walk(
    scratch: ScratchServer, tmp_path: Path
) -> None:
    config = write_project(tmp_path, [CREATE, NOTHING, NOT_NULL_COLUMN, NOTHING])
    report = prove(config, scratch, ITEMS_AT_R2)
    assert codes(report) == [("upgrade", "r3"), ("upgrade", "r4")], report.render()
    failed, unreached = report.findings
    assert unreached.verdict.startswith("revision r4 (r4) was not reached: ")
    assert failed.verdict in unreached.verdict
    assert "contains null values" in unreached.verdict
    assert "Stopped by" in unreached.render()


def test_a_replay_after_a_failure_puts_the_rows_in_again(
    scratch: ScratchServer, tmp_path: Path
) -> None:
    """r3's leaky downgrade makes the walk start again for r4; the rows of r2's
    hook are put in on the way, so r4 still meets them."""
    config = write_project(tmp_path, [CREATE, NOTHING, LEAKY, NOT_NULL_COLUMN])
    report = prove(config, scratch, ITEMS_AT_R2)
    assert codes(report) == [("round-trip", "r3"), ("upgrade", "r4")], report.render()
    assert "contains null values" in report.findings[1].verdict


def test_hooks_that_pass_leave_the_proof_green(
    scratch: ScratchServer, tmp_path: Path
) -> None:
    config = write_project(tmp_path, [CREATE, NOTHING, NOTHING])
    hooks = (
        *ITEMS_AT_R2,
        DataHook(revision="r3", after=lambda connection, _: items_kept(connection, 3)),
    )
    report = prove(config, scratch, hooks)
    assert report.ok, report.render()
