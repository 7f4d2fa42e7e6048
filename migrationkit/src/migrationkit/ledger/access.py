"""Reading and acknowledging through the project's own ``env.py``, as ``verify`` does.

The commands (``history``, ``flags``, ``acknowledge``) use the database and the
version table that env.py configures, run as ``alembic current`` runs it: no
migration, no version table created. Acknowledging writes one ledger row and
commits it; nothing else is changed.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import sqlalchemy as sa
from alembic.config import Config
from alembic.runtime.environment import EnvironmentContext
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from migrationkit.errors import MigrationKitError
from migrationkit.ledger import table as ledger
from migrationkit.ledger.provenance import Provenance
from migrationkit.ledger.state import open_flags
from migrationkit.runtime.review import DESTROYS_FLAGGED, destroyed

T = TypeVar("T")


def on_project_database(
    config: Config, work: Callable[[sa.Connection, ledger.LedgerTable], T]
) -> T:
    """Run ``work`` on the connection env.py opens, with the ledger beside its
    version table."""
    script = ScriptDirectory.from_config(config)
    results: list[T] = []

    def inspect(_heads: Any, context: MigrationContext) -> list[Any]:
        connection = context.connection
        if connection is None:  # pragma: no cover - env.py ran offline
            raise MigrationKitError("the ledger needs a live database, not --sql mode.")
        table = ledger.LedgerTable.beside(
            version_table=context.version_table,
            schema=context.version_table_schema,
            config=config,
        )
        results.append(work(connection, table))
        return []

    with EnvironmentContext(config, script, fn=inspect, dont_mutate=True):
        script.run_env()
    if not results:
        raise MigrationKitError(
            "env.py finished without running the migration context, so the ledger "
            "was not read. Does it call context.run_migrations()?"
        )
    return results[0]


def destroyed_topics(script: ScriptDirectory, revision: str) -> dict[str, str | None]:
    """The topics ``revision`` declares in ``destroys_flagged`` (refusing others)."""
    found = script.get_revision(revision)
    if found is None:
        raise MigrationKitError(f"No revision {revision!r} in this project.")
    topics = destroyed(getattr(found.module, DESTROYS_FLAGGED, None))
    if not topics:
        raise MigrationKitError(
            f"Revision {found.revision} declares no destroys_flagged: it destroys "
            "no flagged data, so there is nothing to acknowledge for it."
        )
    return topics


def acknowledge_flags(
    connection: sa.Connection,
    table: ledger.LedgerTable,
    *,
    script: ScriptDirectory,
    revision: str,
) -> ledger.LedgerEntry | None:
    """Close the open flags ``revision`` would destroy; None when none is open."""
    topics = destroyed_topics(script, revision)
    full = script.get_revision(revision)
    assert full is not None
    flags = [
        entry
        for entry in open_flags(ledger.read_entries(connection, table))
        if entry.detail.get("topic") in topics
    ]
    if not flags:
        connection.rollback()
        return None
    provenance = Provenance.collect(connection, folder=Path(script.dir))
    entry = ledger.append(
        connection,
        table,
        ledger.LedgerEntry(
            kind=ledger.ACKNOWLEDGED,
            revision=full.revision,
            finished_at=ledger.now(),
            os_user=provenance.os_user,
            application_name=provenance.application_name,
            database_user=provenance.database_user,
            host=provenance.host,
            git_commit=provenance.git_commit,
            git_dirty=provenance.git_dirty,
            migrationkit_version=provenance.migrationkit_version,
            detail={
                "flags": [flag.id for flag in flags],
                "topics": sorted(topics),
                "how": "migrationkit acknowledge",
            },
        ),
    )
    connection.commit()
    return entry
