"""Every revision renders as SQL on its own, in both directions.

``alembic upgrade A:B --sql`` is how a DBA reviews a deploy, or how a deploy runs
where the application may not connect. A revision that reads the database
(``op.get_bind().scalar(...)``) without checking ``context.is_offline_mode()``
breaks it, and nobody notices until the day it is needed. Each revision is
rendered alone (from its parent to itself, and back), through the project's
``env.py`` in offline mode: no database is involved.
"""

from __future__ import annotations

from alembic.script import Script

from migrationkit.prove.history import describe, parents
from migrationkit.prove.migrator import Migrator
from migrationkit.prove.report import Block, Finding, error_line, revision_block

_FIX_OFFLINE = (
    "code that reads the database must skip in offline mode: "
    "`if not context.is_offline_mode(): ...`"
)


def prove_offline(migrator: Migrator, revision: Script) -> list[Finding]:
    """Render ``revision`` up and down with ``--sql``; a finding per failure."""
    findings: list[Finding] = []
    start = ",".join(parents(revision)) or "base"
    for upgrade in (True, False):
        command = (
            f"alembic upgrade {start}:{revision.revision} --sql"
            if upgrade
            else f"alembic downgrade {revision.revision}:{start} --sql"
        )
        try:
            migrator.render(revision, upgrade=upgrade)
        except Exception as exc:  # noqa: BLE001 - a failed rendering is the finding
            direction = "upgrade" if upgrade else "downgrade"
            findings.append(
                Finding(
                    code="offline",
                    verdict=(
                        f"the {direction} of revision {describe(revision)} cannot "
                        f"be rendered as SQL: {error_line(exc)}"
                    ),
                    revision=revision.revision,
                    blocks=(
                        revision_block(revision),
                        Block(title="Error", lines=(error_line(exc),)),
                        Block(title="Reproduce", lines=(command,)),
                        Block(
                            title="What to do",
                            lines=(_FIX_OFFLINE,),
                        ),
                    ),
                )
            )
    return findings
