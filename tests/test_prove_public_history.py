"""False alarms a large public history showed, each kept away by a test.

docs/prove.md ("A public history") records what prove and lint said about
CKAN's 109 revisions. Where a finding was not a hazard, the cause is reproduced
here on a tiny project built in ``tmp_path`` and proven on a scratch database.
"""

from __future__ import annotations

from pathlib import Path

from alembic.config import Config

from migrationkit.prove import ProofReport, Prover
from migrationkit.prove.scratch import ScratchServer
from tests.helpers import write_chain_project

REVISION = '''"""{revision}"""

import sqlalchemy as sa
from alembic import op

revision = "{revision}"
down_revision = {down!r}
branch_labels = None
depends_on = None


def upgrade() -> None:
    {upgrade}


def downgrade() -> None:
    {downgrade}
'''


def write_project(folder: Path, revisions: list[tuple[str, str]]) -> Config:
    """(upgrade, downgrade) bodies in order, as revisions r1, r2, ..."""
    return write_chain_project(folder, REVISION, revisions)


def prove(config: Config, scratch: ScratchServer) -> ProofReport:
    prover = Prover(config, scratch=scratch)
    try:
        return prover.run(models=False)
    finally:
        prover.close()


def test_a_recreated_table_is_not_blamed_for_its_not_null_constraint_names(
    scratch: ScratchServer, tmp_path: Path
) -> None:
    """CKAN's 4eaa5fcf3092: PostgreSQL 18 names NOT NULL constraints after the
    table they were made in; a table renamed earlier and recreated by a
    downgrade has the same NOT NULLs under new names, which is no difference."""
    config = write_project(
        tmp_path,
        [
            (
                "op.create_table('legacy', sa.Column('x', sa.Integer, nullable=False))",
                "op.drop_table('legacy')",
            ),
            (
                "op.rename_table('legacy', 'current')",
                "op.rename_table('current', 'legacy')",
            ),
            (
                "op.drop_table('current')",
                (
                    "op.create_table('current', sa.Column('x', sa.Integer,"
                    " nullable=False))"
                ),
            ),
        ],
    )
    report = prove(config, scratch)
    assert report.ok, report.render()


def test_a_not_null_the_downgrade_forgets_is_still_caught(
    scratch: ScratchServer, tmp_path: Path
) -> None:
    config = write_project(
        tmp_path,
        [
            (
                "op.create_table('t', sa.Column('x', sa.Integer, nullable=False))",
                "op.drop_table('t')",
            ),
            (
                "op.alter_column('t', 'x', nullable=True)",
                "pass",
            ),
        ],
    )
    report = prove(config, scratch)
    assert [f.revision for f in report.findings] == ["r2"], report.render()
    assert "nullable: false (before) -> true (after)" in report.render()
