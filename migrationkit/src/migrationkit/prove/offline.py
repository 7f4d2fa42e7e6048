"""Every revision renders as SQL on its own, in both directions.

``alembic upgrade A:B --sql`` is how a DBA reviews a deploy, or how a deploy runs
where the application may not connect. A revision that reads the database
(``op.get_bind().scalar(...)``) without checking ``context.is_offline_mode()``
breaks it, and nobody notices until the day it is needed. Each revision is
rendered alone (from its parent to itself, and back), through the project's
``env.py`` in offline mode: no database is involved.

What ``--sql`` cannot render by nature is not judged: a revision that reads rows
(``conn.execute(...).fetchall()``; Alembic's offline connection returns no
result) depends on the data of the database it runs on, so there is no script to
review. That is a skip with the line that reads, not a failure: most projects
never deploy with ``--sql``, and for those the revision is proven online (upgrade,
round trip, data hooks) like any other.
"""

from __future__ import annotations

import re
import traceback
from pathlib import Path

from alembic.script import Script

from migrationkit.prove.environment import raised_by_revision
from migrationkit.prove.history import describe, parents
from migrationkit.prove.migrator import Migrator
from migrationkit.prove.report import (
    Block,
    Finding,
    Outcome,
    Skip,
    error_line,
    revision_block,
)

# What Python says when code uses the result of a statement run on Alembic's
# offline connection (SQLAlchemy's mock connection returns None, and has no
# ``scalar`` or ``exec_driver_sql``), or inspects it.
_READ_OFFLINE = re.compile(r"'NoneType' object|MockConnection")
_FIX_OFFLINE = (
    "code that reads the database must skip in offline mode: "
    "`if not context.is_offline_mode(): ...`"
)


def prove_offline(
    migrator: Migrator, revision: Script, *, downgrade: bool = True
) -> list[Outcome]:
    """Render ``revision`` up and down with ``--sql``; a finding per failure.

    Only what the revision itself cannot render is its failure. An error raised
    outside its file (env.py's offline branch, say, with no URL to take the
    dialect from) means ``--sql`` renders nothing for this project, and a
    downgrade raising ``NotImplementedError`` is irreversible on purpose: both are
    skips, with the reason. ``downgrade=False``: declared irreversible.
    """
    findings: list[Outcome] = []
    if not downgrade:
        findings.append(
            Skip(
                code="offline",
                revision=revision.revision,
                reason="downgrade not rendered: declared irreversible",
                asked=True,
            )
        )
    start = ",".join(parents(revision)) or "base"
    for upgrade in (True, False) if downgrade else (True,):
        command = (
            f"alembic upgrade {start}:{revision.revision} --sql"
            if upgrade
            else f"alembic downgrade {revision.revision}:{start} --sql"
        )
        try:
            migrator.render(revision, upgrade=upgrade)
        except Exception as exc:  # noqa: BLE001 - a failed rendering is the finding
            direction = "upgrade" if upgrade else "downgrade"
            skip = _not_the_revisions(exc, revision, upgrade=upgrade)
            if skip is not None:
                findings.append(skip)
                continue
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


def _not_the_revisions(
    error: BaseException, revision: Script, *, upgrade: bool
) -> Skip | None:
    if not upgrade and isinstance(error, NotImplementedError):
        return Skip(
            code="offline",
            revision=revision.revision,
            reason="downgrade raises NotImplementedError: irreversible",
            asked=True,
        )
    if raised_by_revision(error, revision):
        return _reads_the_database(error, revision, upgrade=upgrade)
    return Skip(
        code="offline",
        revision=revision.revision,
        reason=(
            f"env.py cannot run with --sql ({error_line(error)}): nothing of this "
            "project renders offline, so the revision is not judged on it"
        ),
        asked=True,
    )


def _reads_the_database(
    error: BaseException, revision: Script, *, upgrade: bool
) -> Skip | None:
    """A skip when the revision failed by reading rows in ``--sql`` mode."""
    if not (
        isinstance(error, AttributeError | TypeError) or "MockConnection" in str(error)
    ) or not _READ_OFFLINE.search(str(error)):
        return None
    direction = "upgrade" if upgrade else "downgrade"
    return Skip(
        code="offline",
        revision=revision.revision,
        reason=(
            f"the {direction} reads the database ({_line_in(error, revision)}: "
            f"{error_line(error)}), which --sql cannot render: it is proven online "
            "only (if you deploy with --sql, guard the read with "
            "`if not context.is_offline_mode():`)"
        ),
        asked=True,
    )


def _line_in(error: BaseException, revision: Script) -> str:
    """``line 12: rows = conn.execute(...).fetchall()``: where the revision read."""
    path = str(Path(revision.path).resolve())
    frames = [
        frame
        for frame in traceback.extract_tb(error.__traceback__)
        if str(Path(frame.filename).resolve()) == path
    ]
    if not frames:
        return Path(revision.path).name
    frame = frames[-1]
    return (
        f"{Path(revision.path).name} line {frame.lineno}: {(frame.line or '').strip()}"
    )
