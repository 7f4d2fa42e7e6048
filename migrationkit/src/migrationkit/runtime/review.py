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
* when a revision of the *same run* flagged rows under a topic, the run stops
  before the revision that destroys it (everything before is committed) unless
  the command acknowledges that revision: ``-x acknowledge=<revision>``.

Rows flagged by an earlier run do not stop anything: whoever ran it saw the report
and chose when to run the contract step.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Sequence

from migrationkit.errors import MigrationKitError
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
    schema is now. Takes no lock and writes nothing to the database.
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


def require_acknowledgement(
    *,
    journal: RunJournal,
    acknowledged: Collection[str],
    revision: str,
    destroys: object,
    step: str,
    database_at: Sequence[str],
) -> None:
    """Stop before ``revision`` if it destroys rows flagged earlier in this run.

    ``destroys`` is the revision module's ``destroys_flagged`` attribute: a
    mapping of topic to the query listing its rows before this revision, or a
    topic, or a sequence of topics; anything else declares nothing.
    """
    queries = _topics(destroys)
    flagged = [flag for flag in journal.flagged if flag.topic in queries]
    if not flagged:
        return
    if revision in acknowledged:
        log.warning(
            "%s destroys rows flagged earlier in this run (%s); going ahead: "
            "acknowledged with -x acknowledge=%s",
            step,
            "; ".join(f"{flag.rows:,} {flag.what}" for flag in flagged),
            revision,
        )
        return
    at = ", ".join(database_at) or "base"
    lines = [
        (
            f"Stopped before {step}: that revision destroys data flagged for review "
            "earlier in this same run, before anyone could look at it."
        ),
        "",
    ]
    for flag in flagged:
        by = f" (flagged by revision {flag.revision})" if flag.revision else ""
        lines.append(f"  {flag.rows:,} {flag.what}{by}")
        query = queries[flag.topic] or flag.inspect_sql
        if query:
            lines.append(f"    list them: {query}")
    lines += [
        "",
        (
            f"The database is at revision {at}: every migration before {revision} "
            f"is committed, and {revision} has not started."
        ),
        (
            "What to do: inspect those rows (fix or copy what matters), then run the "
            f"same command again with -x acknowledge={revision} to let {revision} "
            f"destroy them (alembic -x acknowledge={revision} upgrade head). A "
            f"later run that starts at {at} needs no acknowledgement: the flag "
            "only stops the run that raised it."
        ),
    ]
    raise AcknowledgementRequiredError("\n".join(lines))


def _topics(destroys: object) -> dict[str, str | None]:
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
