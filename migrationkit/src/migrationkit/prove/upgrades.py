"""The findings of a revision that does not upgrade, or that is never reached.

The walk, the round trip and the runner each meet a revision that fails to
upgrade from its parent; every revision after it in the history then cannot be
reached, and says which failure stopped the walk on the way.
"""

from __future__ import annotations

from alembic.script import Script

from migrationkit.prove.history import describe, parents
from migrationkit.prove.migrator import StepResult
from migrationkit.prove.report import (
    Block,
    Finding,
    error_line,
    revision_block,
    sql_block,
)


class UpgradeFailed(Exception):  # noqa: N818 - carries a finding, not an error
    """The revision (or one it follows) does not upgrade: it cannot be reached."""

    def __init__(self, finding: Finding) -> None:
        super().__init__(finding.verdict)
        self.finding = finding


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


def not_reached(target: Script, *, because: Script, cause: Finding | None) -> Finding:
    """``target`` cannot be reached: the finding names the failure that stopped
    the walk on the way (``cause``, found at ``because``), not only where."""
    stopped = (
        cause.verdict
        if cause is not None
        else f"revision {describe(because)} before it fails to upgrade"
    )
    return Finding(
        code="upgrade",
        verdict=f"revision {describe(target)} was not reached: {stopped}",
        revision=target.revision,
        blocks=(
            revision_block(target),
            Block(title="Stopped by", lines=(stopped,)),
        ),
    )
