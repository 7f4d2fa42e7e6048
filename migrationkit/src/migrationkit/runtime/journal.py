"""What happened during one migration run that its messages must tell truly.

Some effects outlive the statement that caused them: an object a failed step left
behind (a half-built unique index that could not be dropped in time) and data a
revision flagged for review (which a later contract revision must not destroy
unseen). When the run keeps a ledger (``migrationkit.ledger``), flags and the
progress of steps that commit in parts are written there too, so they outlive the
run. Operations and revisions record them in the journal of
the run in progress, reachable through a context variable so that nobody has to
hand it down; outside a ``run_migrations`` run there is no journal, and recording
only logs.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import sqlalchemy as sa

if TYPE_CHECKING:
    from migrationkit.ledger.recorder import LedgerRecorder

log = logging.getLogger(__name__)


@dataclass(frozen=True, kw_only=True)
class Leftover:
    """An object a failed step could not remove, and what it does while it stays."""

    key: str
    """Identifies the object (``index public.uq_users_username``)."""
    what: str
    """For people: ``unique index uq_users_username on users``."""
    effect: str
    """What it does to the application while it stays."""
    drop_sql: str
    """The statement that removes it without blocking reads or writes."""
    exists_sql: str
    """A query answering true while it is still there."""


@dataclass(frozen=True, kw_only=True)
class Flagged:
    """Rows a revision could not carry over and left for people to inspect."""

    topic: str
    """What the rows are about, as contract revisions name it in
    ``destroys_flagged`` (``login_events.ip_address``)."""
    revision: str | None
    rows: int
    what: str
    inspect_sql: str | None
    """Lists the rows as the schema was when they were flagged."""


@dataclass
class RunJournal:
    """The journal of one ``run_migrations`` call (all its retries included)."""

    revision: str | None = None
    """The revision whose migration is running now."""
    upgrading: bool = True
    """Whether that migration is an upgrade (else a downgrade)."""
    ledger: LedgerRecorder | None = None
    connection: sa.Connection | None = None
    """The run's connection, on which flags are written."""
    """Writes flags and progress to the ledger, when the run keeps one."""
    leftovers: list[Leftover] = field(default_factory=list)
    flagged: list[Flagged] = field(default_factory=list)

    def left_behind(self, leftover: Leftover) -> None:
        self.cleaned_up(leftover.key)
        self.leftovers.append(leftover)

    def cleaned_up(self, key: str) -> None:
        self.leftovers = [item for item in self.leftovers if item.key != key]

    def flag(self, flag: Flagged) -> None:
        """Record ``flag``; a retried revision flagging again replaces its flag."""
        self.flagged = [
            item
            for item in self.flagged
            if (item.topic, item.revision) != (flag.topic, flag.revision)
        ]
        self.flagged.append(flag)


def note_progress(connection: sa.Connection, *, label: str, rows: int) -> None:
    """A step that commits in parts finished ``rows`` more rows of ``label``.

    Call it on the connection doing the work, before that part commits: the count
    commits with the part, so a resumed run knows what was already done. Outside
    a run that keeps a ledger it does nothing.
    """
    journal = current_journal()
    if journal is None or journal.ledger is None or journal.revision is None:
        return
    journal.ledger.note_progress(
        connection,
        revision=journal.revision,
        upgrade=journal.upgrading,
        label=label,
        rows=rows,
    )


_current: ContextVar[RunJournal | None] = ContextVar(
    "migrationkit_run_journal", default=None
)


def current_journal() -> RunJournal | None:
    """The journal of the run in progress, or None outside ``run_migrations``."""
    return _current.get()


@contextmanager
def journal_for_run() -> Iterator[RunJournal]:
    """Open the journal that operations and revisions of this run record into."""
    journal = RunJournal()
    token = _current.set(journal)
    try:
        yield journal
    finally:
        _current.reset(token)
