"""Writing the ledger during a run: one row per step, in the step's own transaction.

``LedgerRecorder`` is installed by ``run_with_retries`` for every run that changes
the database. Alembic calls ``on_version_apply`` inside the migration's
transaction, just after the version table is updated, so the ledger row and the
version change commit together or not at all (a lock timeout, a kill -9 or a cut
connection leaves neither). Before anything runs, it refuses to build on an
applied revision whose file was edited since (``-x accept_edited=<rev>`` accepts
the edit, and that is recorded too).
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic.runtime.environment import EnvironmentContext
from alembic.runtime.migration import MigrationContext, MigrationInfo
from alembic.script import ScriptDirectory

from migrationkit.errors import MigrationKitError
from migrationkit.ledger import table as ledger
from migrationkit.ledger.provenance import Provenance
from migrationkit.ledger.state import (
    EditedRevision,
    edited_revisions,
    open_flags,
    revision_file_sha256,
)

log = logging.getLogger(__name__)


class EditedRevisionError(MigrationKitError):
    """An applied revision's file changed since it ran, and nobody accepted it."""


def accepted_edits(x_arguments: Mapping[str, str]) -> frozenset[str]:
    """``-x accept_edited=001,004``: revisions whose edited file is accepted."""
    raw = x_arguments.get("accept_edited", "")
    return frozenset(name.strip() for name in raw.split(",") if name.strip())


@dataclass(kw_only=True)
class LedgerRecorder:
    """The ledger's writer for one run: it times each step, counts its lock
    retries, and appends its row in the step's own transaction."""

    table: ledger.LedgerTable
    script: ScriptDirectory
    provenance: Provenance
    started_at: datetime | None = None
    step_key: tuple[str, bool] | None = None
    lock_retries: int = 0

    @classmethod
    def start(
        cls,
        context: MigrationContext,
        *,
        script: ScriptDirectory,
        accept_edited: Collection[str],
        config_table: ledger.LedgerTable,
    ) -> LedgerRecorder:
        """Create the ledger if missing, refuse an edited applied revision."""
        connection = context.connection
        assert connection is not None
        if connection.in_transaction():
            connection.commit()
        config_table.ensure(connection)
        connection.commit()  # git may take seconds: no transaction open meanwhile
        provenance = Provenance.collect(connection, folder=Path(script.dir))
        recorder = cls(table=config_table, script=script, provenance=provenance)
        entries = ledger.read_entries(connection, config_table)
        edited = edited_revisions(entries, script)
        refused = [item for item in edited if item.revision not in accept_edited]
        if refused:
            connection.rollback()
            raise EditedRevisionError(edited_message(refused))
        for item in edited:
            recorder.append(
                connection,
                kind=ledger.ACCEPTED_EDIT,
                revision=item.revision,
                file_sha256=item.now_sha256,
                detail={"was_sha256": item.applied_sha256},
            )
            log.warning(
                "accepted the edited file of applied revision %s (-x accept_edited)",
                item.revision,
            )
        connection.commit()
        return recorder

    # -------------------------------------------------------------- steps

    def step_starting(
        self, connection: sa.Connection, *, revision: str, upgrade: bool
    ) -> None:
        """A step (or its retry) is about to run; say where a resumed step resumes."""
        key = (revision, upgrade)
        if key == self.step_key:
            self.lock_retries += 1
        else:
            self.step_key = key
            self.lock_retries = 0
        self.started_at = ledger.now()
        for label, rows, when in self.progress(
            connection, revision=revision, upgrade=upgrade
        ):
            log.warning(
                "%s %s resumes: %s had %s row(s) committed by %s; only the rest "
                "is done",
                "upgrade" if upgrade else "downgrade",
                revision,
                label,
                f"{rows:,}",
                when.isoformat(timespec="seconds"),
            )

    def step_applied(
        self, *, ctx: MigrationContext, step: MigrationInfo, **_: Any
    ) -> None:
        """``on_version_apply``: in the step's transaction, after the version change."""
        connection = ctx.connection
        assert connection is not None
        if step.is_stamp:
            for revision in sorted(step.destination_revision_ids) or ["base"]:
                self.append(
                    connection,
                    kind=ledger.STAMPED,
                    revision=revision,
                    file_sha256=self.file_hash(revision),
                )
            return
        revision = step.up_revision_id or ""
        progress = self.progress(connection, revision=revision, upgrade=step.is_upgrade)
        finished = ledger.now()
        self.append(
            connection,
            kind=ledger.APPLIED if step.is_upgrade else ledger.REVERTED,
            revision=revision,
            file_sha256=self.file_hash(revision),
            started_at=self.started_at,
            finished_at=finished,
            duration_seconds=(finished - self.started_at).total_seconds()
            if self.started_at
            else None,
            lock_retries=self.lock_retries,
            rows_changed=sum(rows for _, rows, _ in progress) if progress else None,
            detail={"progress": {label: rows for label, rows, _ in progress}}
            if progress
            else {},
        )
        connection.execute(
            sa.text(
                f"DELETE FROM {self.table.qualified(connection, progress=True)}"
                " WHERE revision = :r AND direction = :d"
            ),
            {"r": revision, "d": _direction(step.is_upgrade)},
        )
        self.step_key = None

    def note_progress(
        self,
        connection: sa.Connection,
        *,
        revision: str,
        upgrade: bool,
        label: str,
        rows: int,
    ) -> None:
        """Count ``rows`` more done by a step that commits in parts, in the
        transaction (or autocommit statement) of the part itself."""
        connection.execute(
            sa.text(
                f"INSERT INTO {self.table.qualified(connection, progress=True)}"
                " (revision, direction, label, rows_done) VALUES (:r, :d, :l, :n)"
                " ON CONFLICT (revision, direction, label) DO UPDATE SET"
                " rows_done = EXCLUDED.rows_done + "
                f"{self.table.qualified(connection, progress=True)}.rows_done,"
                " updated_at = now()"
            ),
            {"r": revision, "d": _direction(upgrade), "l": label, "n": rows},
        )

    def progress(
        self, connection: sa.Connection, *, revision: str, upgrade: bool
    ) -> list[tuple[str, int, datetime]]:
        rows = connection.execute(
            sa.text(
                "SELECT label, rows_done, updated_at FROM "
                f"{self.table.qualified(connection, progress=True)}"
                " WHERE revision = :r AND direction = :d ORDER BY label"
            ),
            {"r": revision, "d": _direction(upgrade)},
        )
        return [(str(r[0]), int(r[1]), r[2]) for r in rows]

    # -------------------------------------------------------------- flags

    def open_flags(
        self, connection: sa.Connection, topics: Collection[str]
    ) -> list[ledger.LedgerEntry]:
        return [
            entry
            for entry in open_flags(ledger.read_entries(connection, self.table))
            if entry.detail.get("topic") in topics
        ]

    def append(self, connection: sa.Connection, **values: Any) -> ledger.LedgerEntry:
        values.setdefault("finished_at", ledger.now())
        entry = ledger.LedgerEntry(
            os_user=self.provenance.os_user,
            application_name=self.provenance.application_name,
            database_user=self.provenance.database_user,
            host=self.provenance.host,
            git_commit=self.provenance.git_commit,
            git_dirty=self.provenance.git_dirty,
            migrationkit_version=self.provenance.migrationkit_version,
            **values,
        )
        return ledger.append(connection, self.table, entry)

    def file_hash(self, revision: str) -> str | None:
        return revision_file_sha256(self.script, revision)


def _direction(upgrade: bool) -> str:  # noqa: FBT001 - one flag, named by the caller
    return "upgrade" if upgrade else "downgrade"


def edited_message(edited: list[EditedRevision]) -> str:
    lines = [
        (
            "Refusing to migrate: applied revision file(s) changed since they ran, "
            "so this database does not hold what those files now say."
        ),
        "",
    ]
    for item in edited:
        when = item.applied_at.isoformat(timespec="seconds")
        lines.append(
            f"  {item.revision}: applied {when} from sha256 {item.applied_sha256}, "
            f"the file now has sha256 {item.now_sha256}"
        )
    names = ",".join(item.revision for item in edited)
    lines += [
        "",
        (
            "What to do: undo the edit (git diff shows it), or put the change in a "
            "new revision. If the edit changes nothing the database holds (a "
            f"comment, a docstring), accept it once with -x accept_edited={names} "
            f"(alembic -x accept_edited={names} upgrade head); the acceptance is "
            "recorded in the ledger."
        ),
    ]
    return "\n".join(lines)


def start_ledger(env: EnvironmentContext, context: MigrationContext) -> LedgerRecorder:
    """The recorder for this run of ``env``: the ledger beside its version table."""
    return LedgerRecorder.start(
        context,
        script=env.script,
        accept_edited=accepted_edits(env.get_x_argument(as_dictionary=True)),
        config_table=ledger.LedgerTable.beside(
            version_table=context.version_table,
            schema=context.version_table_schema,
            config=env.config,
        ),
    )
