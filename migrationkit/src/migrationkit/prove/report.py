"""What a proof finds, and how it reads: like a reviewer's comment.

Each check is a rule with a stable code (``round-trip``, ``models``...), listed in
``CHECKS`` as data. A failed check is a ``Finding``: a one-line verdict, then
titled blocks (the revision and its file, the catalog diff as added / removed /
changed objects, the SQL it ran, what to do). Nothing here prints; the command
line and the pytest plugin render the same text.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from alembic.script import Script

from migrationkit.database import mask_secrets
from migrationkit.prove.history import describe, relative_path


@dataclass(frozen=True, kw_only=True)
class Check:
    """One kind of proof, documented once: its code, title and why it matters."""

    code: str
    title: str
    why: str


CHECKS: tuple[Check, ...] = (
    Check(
        code="single-head",
        title="exactly one head",
        why="`alembic upgrade head` refuses a history with several heads",
    ),
    Check(
        code="upgrade",
        title="each revision upgrades from its parent",
        why="a deploy runs every revision in turn; one that fails stops it",
    ),
    Check(
        code="round-trip",
        title="up, down, up again leaves the catalog as it was",
        why=(
            "a downgrade that leaves objects behind makes the next upgrade fail "
            "or, worse, succeed on a schema nobody wrote"
        ),
    ),
    Check(
        code="models",
        title="the models match the migrated head",
        why=(
            "the application runs the models against the schema the migrations "
            "built; what differs breaks at run time"
        ),
    ),
    Check(
        code="offline",
        title="each revision renders as SQL (--sql)",
        why="a DBA reviewing `alembic upgrade --sql` output must get all of it",
    ),
    Check(
        code="data",
        title="data hooks: rows put in before a revision are right after it",
        why="a data migration is only proven on data",
    ),
)


@dataclass(frozen=True, kw_only=True)
class Block:
    title: str
    lines: tuple[str, ...]


@dataclass(frozen=True, kw_only=True)
class Finding:
    """A failed check, with everything a reviewer needs to act on it."""

    code: str
    verdict: str
    revision: str | None = None
    blocks: tuple[Block, ...] = ()

    def render(self) -> str:
        lines = [f"FAILED [{self.code}] {self.verdict}"]
        for block in self.blocks:
            lines.append(f"  {block.title}")
            lines += [f"    {line}" for line in block.lines]
        return mask_secrets("\n".join(lines))


@dataclass(frozen=True, kw_only=True)
class Skip:
    """A check that did not run, and why: never printed as passed.

    ``asked`` says whether the skip is allowed: the project asked for it (an
    option left the check out, or its settings declare the revision
    irreversible, skipped or below the minimum downgrade revision), or the check
    cannot judge the revision by design (an upgrade that reads the database
    under ``--sql``), and the reason says which. A skip not allowed (two heads,
    a head that cannot be reached, env.py failing) fails the proof: the check
    it stands for proved nothing.
    """

    code: str
    reason: str
    revision: str | None = None
    asked: bool = False

    def render(self) -> str:
        where = f"revision {self.revision}: " if self.revision else ""
        why = "allowed" if self.asked else "not allowed: the proof fails"
        return mask_secrets(f"SKIPPED [{self.code}] {where}{self.reason} ({why})")


Outcome = Finding | Skip
"""What one check gives besides a pass: a failure or a skip."""


def split(outcomes: Sequence[Outcome]) -> tuple[list[Finding], list[Skip]]:
    findings = [o for o in outcomes if isinstance(o, Finding)]
    return findings, [o for o in outcomes if isinstance(o, Skip)]


@dataclass(frozen=True, kw_only=True)
class ProofReport:
    """The outcome of a proof: what was checked, what failed, what did not run."""

    server_version: str
    revisions: int
    checks_run: int
    """Every check counted: passed, failed and skipped."""
    findings: tuple[Finding, ...] = ()
    skipped: tuple[Skip, ...] = ()

    @property
    def left_out(self) -> tuple[Skip, ...]:
        """Whole checks left out as asked (an option, no data hooks): not counted."""
        return tuple(s for s in self.skipped if s.asked and s.revision is None)

    @property
    def counted_skips(self) -> tuple[Skip, ...]:
        return tuple(s for s in self.skipped if s not in self.left_out)

    @property
    def unasked_skips(self) -> tuple[Skip, ...]:
        return tuple(skip for skip in self.skipped if not skip.asked)

    @property
    def ok(self) -> bool:
        return not self.findings and not self.unasked_skips

    def summary(self) -> str:
        """``all 8 checks passed``, ``1 of 8 checks failed``, and what was skipped."""
        skips = self.counted_skips
        if not self.findings and not skips:
            return f"all {self.checks_run} checks passed"
        if self.findings:
            text = f"{len(self.findings)} of {self.checks_run} checks failed"
        else:
            text = f"no check failed of {self.checks_run}"
        if skips:
            unasked = len(self.unasked_skips)
            text += f", {len(skips)} skipped" + (
                f" ({unasked} not allowed: the proof fails)"
                if unasked
                else " (allowed)"
            )
        return text

    def render(self) -> str:
        head = (
            f"migrationkit prove: {self.revisions} revision(s) on PostgreSQL "
            f"{self.server_version}: {self.summary()}"
        )
        parts = [head]
        left_out = {skip.code for skip in self.left_out}
        unrun = {skip.code for skip in self.unasked_skips}
        if not self.findings:
            parts += [
                f"  {_mark(check.code, left_out=left_out, unrun=unrun)}  "
                f"{check.code:<12} {check.title}"
                + (
                    " (not run)"
                    if check.code in left_out
                    else " (not run: see SKIPPED below)"
                    if check.code in unrun
                    else ""
                )
                for check in CHECKS
            ]
        else:
            findings = "\n\n".join(f.render() for f in self.findings)
            parts += ["", *findings.splitlines()]
        shown = self.skipped if self.findings else self.counted_skips
        if shown:
            parts += ["", *(skip.render() for skip in shown)]
        return "\n".join(parts).rstrip() + "\n"


def _mark(code: str, *, left_out: set[str], unrun: set[str]) -> str:
    """``ok`` only for a check that ran: a skip nobody asked for is never a pass."""
    if code in unrun:
        return "!!"
    return "--" if code in left_out else "ok"


def revision_block(revision: Script) -> Block:
    return Block(
        title="Revision",
        lines=(describe(revision), relative_path(revision)),
    )


_NOISE = re.compile(
    r"^(SET |SHOW |select pg_catalog\.version|select current_schema"
    r"|SELECT pg_try_advisory_lock|SELECT pg_advisory_unlock"
    r"|SELECT \w+\.version_num FROM|SELECT pg_catalog\.pg_class\.relname"
    r"|SELECT current_setting|SELECT set_config|SELECT pg_backend_pid"
    r"|SELECT count\(\*\) FROM pg_locks|SELECT current_database\(\)"
    r"|SELECT a\.pid, coalesce"  # migrationkit's own queries: lock, guards, blockers
    r"|BEGIN|COMMIT|ROLLBACK)",
    re.IGNORECASE,
)
_MOST_STATEMENTS = 30


def sql_block(title: str, statements: Sequence[str]) -> Block:
    """The migration's own statements (not the harness's or env.py's bookkeeping)."""
    own = [s for s in statements if not _NOISE.match(s)]
    if not own:
        return Block(title=title, lines=("(no statement)",))
    shown = own[:_MOST_STATEMENTS]
    lines = [s if len(s) <= 200 else s[:197] + "..." for s in shown]
    if len(own) > len(shown):
        lines.append(f"... and {len(own) - len(shown)} more")
    return Block(title=title, lines=tuple(lines))


def error_line(error: BaseException) -> str:
    """An exception as one line a person can read (no SQL parameters)."""
    orig = getattr(error, "orig", None)
    text = str(orig if orig is not None else error).strip().splitlines()
    first = text[0] if text else ""
    return f"{type(orig or error).__name__}: {first}" if first else type(error).__name__
