"""The ledger table: where it lives, how a row is appended, how the chain is checked.

Rows are only ever appended. Each row's ``row_hash`` is the SHA-256 of its own
content and of the previous row's hash, so removing or rewriting a row is seen
by anyone who walks the chain again (``chain_breaks``). Appending takes a SHARE
ROW EXCLUSIVE lock on the ledger for the rest of the writer's transaction: two
writers (a migration and a ``migrationkit acknowledge``) cannot both link to the
same previous row; readers are never blocked.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field, fields
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from alembic.config import Config

NAME_OPTION = "migrationkit_ledger_table"
"""alembic.ini option naming the ledger table (default: ``<version_table>_ledger``)."""

APPLIED = "applied"
REVERTED = "reverted"
STAMPED = "stamped"
FLAG = "flag"
ACKNOWLEDGED = "acknowledged"
ACCEPTED_EDIT = "accepted_edit"
KINDS = (APPLIED, REVERTED, STAMPED, FLAG, ACKNOWLEDGED, ACCEPTED_EDIT)


@dataclass(frozen=True, kw_only=True)
class LedgerTable:
    """Where the ledger and its progress table are, beside the version table."""

    name: str
    schema: str | None = None

    @classmethod
    def beside(
        cls,
        *,
        version_table: str = "alembic_version",
        schema: str | None = None,
        config: Config | None = None,
    ) -> LedgerTable:
        configured = config.get_main_option(NAME_OPTION) if config else None
        return cls(name=configured or f"{version_table}_ledger", schema=schema)

    @property
    def progress_name(self) -> str:
        return f"{self.name}_progress"

    def qualified(self, connection: sa.Connection, *, progress: bool = False) -> str:
        preparer = connection.dialect.identifier_preparer
        quoted = preparer.quote(self.progress_name if progress else self.name)
        return (
            f"{preparer.quote_schema(self.schema)}.{quoted}" if self.schema else quoted
        )

    def exists(self, connection: sa.Connection) -> bool:
        return bool(sa.inspect(connection).has_table(self.name, schema=self.schema))

    def ensure(self, connection: sa.Connection) -> None:
        """Create both tables if missing (first use, or a database migrated before
        the ledger existed: it is adopted as it is, with an empty history)."""
        connection.execute(sa.text(_CREATE.format(table=self.qualified(connection))))
        connection.execute(
            sa.text(
                _CREATE_PROGRESS.format(table=self.qualified(connection, progress=True))
            )
        )


_CREATE = """\
CREATE TABLE IF NOT EXISTS {table} (
    id bigint PRIMARY KEY,
    kind text NOT NULL,
    revision text NOT NULL,
    file_sha256 text,
    started_at timestamptz,
    finished_at timestamptz NOT NULL,
    duration_seconds double precision,
    lock_retries integer NOT NULL DEFAULT 0,
    rows_changed bigint,
    os_user text,
    application_name text,
    database_user text,
    host text,
    git_commit text,
    git_dirty boolean,
    migrationkit_version text,
    detail jsonb NOT NULL DEFAULT '{{}}',
    previous_hash text,
    row_hash text NOT NULL
)"""

_CREATE_PROGRESS = """\
CREATE TABLE IF NOT EXISTS {table} (
    revision text NOT NULL,
    direction text NOT NULL,
    label text NOT NULL,
    rows_done bigint NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (revision, direction, label)
)"""


@dataclass(frozen=True, kw_only=True)
class LedgerEntry:
    """One ledger row. ``detail`` holds what only some kinds have (a flag's topic,
    an accepted edit's old and new hash, a step's progress)."""

    kind: str
    revision: str
    finished_at: datetime
    file_sha256: str | None = None
    started_at: datetime | None = None
    duration_seconds: float | None = None
    lock_retries: int = 0
    rows_changed: int | None = None
    os_user: str | None = None
    application_name: str | None = None
    database_user: str | None = None
    host: str | None = None
    git_commit: str | None = None
    git_dirty: bool | None = None
    migrationkit_version: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)
    previous_hash: str | None = None
    row_hash: str = ""
    id: int | None = None

    def content_hash(self, previous_hash: str | None) -> str:
        """SHA-256 of this row's content linked to ``previous_hash``."""
        content = {
            key: _canonical(value)
            for key, value in asdict(self).items()
            if key not in {"id", "row_hash", "previous_hash"}
        }
        text = json.dumps(
            {"previous": previous_hash, "row": content}, sort_keys=True, default=str
        )
        return hashlib.sha256(text.encode()).hexdigest()

    def as_json(self) -> dict[str, Any]:
        return {key: _canonical(value) for key, value in asdict(self).items()}


COLUMNS = tuple(f.name for f in fields(LedgerEntry))


def _canonical(value: object) -> object:
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    return value


def append(
    connection: sa.Connection, table: LedgerTable, entry: LedgerEntry
) -> LedgerEntry:
    """Append ``entry`` in the caller's transaction, linked to the last row."""
    qualified = table.qualified(connection)
    connection.execute(sa.text(f"LOCK TABLE {qualified} IN SHARE ROW EXCLUSIVE MODE"))
    previous = connection.execute(
        sa.text(f"SELECT row_hash FROM {qualified} ORDER BY id DESC LIMIT 1")
    ).scalar()
    values = {
        key: value
        for key, value in asdict(entry).items()
        if key not in {"id", "row_hash", "previous_hash"}
    }
    values["detail"] = json.dumps(entry.detail, sort_keys=True)
    values["previous_hash"] = previous
    values["row_hash"] = entry.content_hash(previous)
    names = ", ".join(["id", *values])
    # ids follow max(id) under the lock above: no sequence, so the ledger adds
    # exactly one table to the catalog (prove compares catalogs without it)
    placeholders = ", ".join(
        [
            f"(SELECT coalesce(max(id), 0) + 1 FROM {qualified})",
            *(
                "CAST(:detail AS jsonb)" if key == "detail" else f":{key}"
                for key in values
            ),
        ]
    )
    new_id = connection.execute(
        sa.text(
            f"INSERT INTO {qualified} ({names}) VALUES ({placeholders}) RETURNING id"
        ),
        values,
    ).scalar_one()
    return LedgerEntry(
        **{
            **{k: v for k, v in asdict(entry).items() if k not in {"detail"}},
            "detail": entry.detail,
            "previous_hash": previous,
            "row_hash": values["row_hash"],
            "id": int(new_id),
        }
    )


def read_entries(connection: sa.Connection, table: LedgerTable) -> list[LedgerEntry]:
    """Every row in order; none when the ledger was never created."""
    if not table.exists(connection):
        return []
    columns = ", ".join(COLUMNS)
    rows = connection.execute(
        sa.text(f"SELECT {columns} FROM {table.qualified(connection)} ORDER BY id")
    ).mappings()
    return [LedgerEntry(**{**row, "detail": dict(row["detail"] or {})}) for row in rows]


@dataclass(frozen=True, kw_only=True)
class ChainBreak:
    """A row whose links do not hold: removed, inserted or rewritten rows."""

    entry: LedgerEntry
    reason: str


def chain_breaks(entries: list[LedgerEntry]) -> list[ChainBreak]:
    """Walk the chain from the first row; each row must link to the one before
    and hash to what it says."""
    breaks: list[ChainBreak] = []
    previous: str | None = None
    for entry in entries:
        if entry.previous_hash != previous:
            breaks.append(
                ChainBreak(
                    entry=entry,
                    reason="does not link to the row before it (a row was removed "
                    "or inserted)",
                )
            )
        elif entry.content_hash(entry.previous_hash) != entry.row_hash:
            breaks.append(
                ChainBreak(entry=entry, reason="was changed after it was written")
            )
        previous = entry.row_hash
    return breaks


def now() -> datetime:
    return datetime.now(UTC)


IncludeName = Callable[[str | None, str, Mapping[str, str | None]], bool]


def ignoring_ledger(include_name: object, *, table: LedgerTable) -> IncludeName:
    """An autogenerate ``include_name`` that leaves out the ledger's two tables
    (as Alembic leaves out its version table), then asks the project's own."""
    own = {table.name, table.progress_name}

    def include(
        name: str | None, type_: str, parent_names: Mapping[str, str | None]
    ) -> bool:
        if type_ == "table" and name in own:
            return False
        if callable(include_name):
            return bool(include_name(name, type_, parent_names))
        return True

    return include
