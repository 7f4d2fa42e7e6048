"""Data an earlier step flagged, and the contract step that would destroy it unseen.

An expand or backfill revision that cannot carry some rows over keeps them and
says so (009: addresses whose text is not an address stay in the old column); the
contract revision that drops the old column (011) destroys them. Run back to back
by one ``alembic upgrade head``, the report is milliseconds old when the data goes,
and the window to inspect it exists only for someone who stopped in between. So:

* the revision that finds such rows calls ``flag_for_review(topic, rows=...,
  what=..., inspect_sql=...)``;
* the revision that destroys them says so at module level, with the query that
  lists them at that point of the history (the expand step's columns may have
  been renamed since): ``destroys_flagged = {"topic": "SELECT ..."}`` (or just
  ``("topic",)``);
* while a flag under that topic is open, every run stops before the revision
  that destroys it (everything before is committed): this run, a retry, a rerun
  after a lock timeout or a kill -9, a run from another machine. The flag is a
  row in the ledger (``migrationkit.ledger``), written in the flagging revision's
  transaction; it stays open until acknowledged, by ``-x acknowledge=<revision>``
  on the run that goes ahead or by ``migrationkit acknowledge <revision>``, which
  record who acknowledged and when.

A run without a ledger (a caller's own transaction) only keeps the flags of the
run in memory, as before.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Sequence
from dataclasses import dataclass

from migrationkit.errors import MigrationKitError
from migrationkit.ledger.table import ACKNOWLEDGED, FLAG
from migrationkit.runtime.journal import Flagged, RunJournal, current_journal

log = logging.getLogger(__name__)

DESTROYS_FLAGGED = "destroys_flagged"
"""Module attribute of a revision: the topics whose flagged rows it destroys."""


class AcknowledgementRequiredError(MigrationKitError):
    """A contract revision would destroy rows flagged earlier in the same run."""


def flag_for_review(
    topic: str, *, rows: int, what: str, inspect_sql: str | None = None
) -> None:
    """Record that ``rows`` rows under ``topic`` need a person's look before any
    revision that declares ``destroys_flagged = {"<topic>": ...}`` runs.

    ``what`` describes the rows for the message (``login event(s) whose
    ip_address text is not an IP address``); ``inspect_sql`` lists them as the
    schema is now. In a run that keeps a ledger the flag is appended there, in
    the transaction of the revision that flags (it commits with it).
    """
    if rows <= 0:
        return
    journal = current_journal()
    flag = Flagged(
        topic=topic,
        revision=journal.revision if journal is not None else None,
        rows=rows,
        what=what,
        inspect_sql=inspect_sql,
    )
    if journal is None:
        log.info("flagged for review (%s): %s %s", topic, rows, what)
        return
    journal.flag(flag)
    if journal.ledger is not None and journal.connection is not None:
        journal.ledger.append(
            journal.connection,
            kind=FLAG,
            revision=flag.revision or "",
            detail={
                "topic": topic,
                "rows": rows,
                "what": what,
                "inspect_sql": inspect_sql,
            },
        )


@dataclass(frozen=True, kw_only=True)
class OpenFlag:
    """A flag that stops a contract revision: from the ledger or this run."""

    topic: str
    revision: str | None
    rows: int
    what: str
    inspect_sql: str | None
    flagged_at: str | None = None
    ledger_id: int | None = None


def require_acknowledgement(
    *,
    journal: RunJournal,
    acknowledged: Collection[str],
    revision: str,
    destroys: object,
    step: str,
    database_at: Sequence[str],
) -> None:
    """Stop before ``revision`` if it destroys rows under an open flag.

    ``destroys`` is the revision module's ``destroys_flagged`` attribute: a
    mapping of topic to the query listing its rows before this revision, or a
    topic, or a sequence of topics; anything else declares nothing. Going ahead
    on ``-x acknowledge`` closes the flags in the ledger, in the transaction of
    ``revision`` itself: if it fails, they stay open.
    """
    queries = destroyed(destroys)
    if not queries:
        return
    flagged = _open_flags(journal, queries)
    if not flagged:
        return
    if revision in acknowledged:
        log.warning(
            "%s destroys rows flagged for review (%s); going ahead: "
            "acknowledged with -x acknowledge=%s",
            step,
            "; ".join(f"{flag.rows:,} {flag.what}" for flag in flagged),
            revision,
        )
        if journal.ledger is not None and journal.connection is not None:
            journal.ledger.append(
                journal.connection,
                kind=ACKNOWLEDGED,
                revision=revision,
                detail={
                    "flags": [f.ledger_id for f in flagged if f.ledger_id is not None],
                    "topics": sorted({f.topic for f in flagged}),
                    "how": f"-x acknowledge={revision}",
                },
            )
        journal.flagged = [f for f in journal.flagged if f.topic not in queries]
        return
    raise AcknowledgementRequiredError(
        acknowledgement_message(
            flagged, queries=queries, revision=revision, step=step, at=database_at
        )
    )


def _open_flags(journal: RunJournal, queries: dict[str, str | None]) -> list[OpenFlag]:
    if journal.ledger is None or journal.connection is None:
        return [
            OpenFlag(
                topic=f.topic,
                revision=f.revision,
                rows=f.rows,
                what=f.what,
                inspect_sql=f.inspect_sql,
            )
            for f in journal.flagged
            if f.topic in queries
        ]
    return [
        OpenFlag(
            topic=str(entry.detail.get("topic")),
            revision=entry.revision or None,
            rows=int(entry.detail.get("rows", 0)),
            what=str(entry.detail.get("what", "")),
            inspect_sql=entry.detail.get("inspect_sql"),
            flagged_at=entry.finished_at.isoformat(timespec="seconds"),
            ledger_id=entry.id,
        )
        for entry in journal.ledger.open_flags(journal.connection, queries)
    ]


def acknowledgement_message(
    flagged: Sequence[OpenFlag],
    *,
    queries: dict[str, str | None],
    revision: str,
    step: str,
    at: Sequence[str],
) -> str:
    where = ", ".join(at) or "base"
    lines = [
        (
            f"Stopped before {step}: that revision destroys data flagged for "
            "review, and nobody has acknowledged the flag yet."
        ),
        "",
    ]
    for flag in flagged:
        origin = [f"flagged by revision {flag.revision}"] if flag.revision else []
        origin += [f"at {flag.flagged_at}"] if flag.flagged_at else []
        suffix = f" ({' '.join(origin)})" if origin else ""
        lines.append(f"  {flag.rows:,} {flag.what}{suffix}")
        query = queries.get(flag.topic) or flag.inspect_sql
        if query:
            lines.append(f"    list them: {query}")
    lines += [
        "",
        (
            f"The database is at revision {where}: every migration before {revision} "
            f"is committed, and {revision} has not started."
        ),
        (
            "What to do: inspect those rows (fix or copy what matters), then run the "
            f"same command again with -x acknowledge={revision} to let {revision} "
            f"destroy them (alembic -x acknowledge={revision} upgrade head), or "
            f"acknowledge first with `migrationkit acknowledge {revision}`. The flag "
            "stays open, and stops every run at this point, until then "
            "(`migrationkit flags` lists the open ones)."
        ),
    ]
    return "\n".join(lines)


def destroyed(destroys: object) -> dict[str, str | None]:
    """``destroys_flagged`` as {topic: query or None}."""
    if isinstance(destroys, str):
        return {destroys: None}
    if isinstance(destroys, dict):
        return {
            topic: query if isinstance(query, str) else None
            for topic, query in destroys.items()
            if isinstance(topic, str)
        }
    if isinstance(destroys, (list, tuple, set, frozenset)):
        return {topic: None for topic in destroys if isinstance(topic, str)}
    return {}
