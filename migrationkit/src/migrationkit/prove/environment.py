"""What the project's ``env.py`` configures, read once, and whether it runs at all.

The proof must honour the project's Alembic settings: the version table and its
schema (left out of the catalog, compared by rows), ``include_name`` and
``include_object`` (what the models check compares), and ``target_metadata``.
They live in ``env.py``'s ``context.configure(...)`` call, so env.py is run once
the way ``alembic current`` runs it (nothing migrated, no version table created)
and the options are read from the migration context it builds.

That first run is also where an env.py that cannot work for the harness shows:
one that cannot be imported (``from models import Base`` in a src layout), or one
written for pytest-alembic and not wired to the connection the harness hands in.
It fails before any revision runs, so it is reported once, as env.py's error,
instead of once per revision.
"""

from __future__ import annotations

import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic.config import Config
from alembic.runtime.environment import EnvironmentContext
from alembic.runtime.migration import MigrationContext
from alembic.script import Script

from migrationkit.prove.catalog import VersionTable
from migrationkit.prove.history import History
from migrationkit.prove.migrator import CONNECTION_ATTRIBUTE
from migrationkit.prove.report import Block, Finding, error_line

_FIX_ENV = (
    "env.py must run for the harness as it runs for `alembic upgrade`: it must "
    "import (check `prepend_sys_path` in alembic.ini for a src layout), and use "
    'the connection handed in through config.attributes["connection"] (with '
    "migrationkit: `run_migrations(context, target_metadata=...)`; see "
    "docs/prove.md)"
)


@dataclass(frozen=True, kw_only=True)
class EnvOptions:
    """The ``context.configure`` options the proof honours."""

    target_metadata: tuple[sa.MetaData, ...] = ()
    version_table: VersionTable = field(default_factory=VersionTable)
    include_name: Callable[..., bool] | None = None
    include_object: Callable[..., bool] | None = None


class EnvFailed(Exception):  # noqa: N818 - carries a finding, not an error
    """env.py itself fails: no check that goes through it can run."""

    def __init__(self, finding: Finding) -> None:
        super().__init__(finding.verdict)
        self.finding = finding


def read_env_options(
    config: Config, history: History, connection: sa.Connection
) -> EnvOptions:
    """Run env.py once without migrating and read what it configured.

    Raises ``EnvFailed`` when env.py raises.
    """
    found: list[dict[str, Any]] = []

    def capture(_heads: Any, context: MigrationContext) -> list[Any]:
        found.append(dict(context.opts))
        return []

    config.attributes[CONNECTION_ATTRIBUTE] = connection
    try:
        with EnvironmentContext(config, history.script, fn=capture, dont_mutate=True):
            history.script.run_env()
    except Exception as exc:
        raise EnvFailed(env_failed(history, exc)) from exc
    finally:
        config.attributes.pop(CONNECTION_ATTRIBUTE, None)
        if connection.in_transaction():
            connection.rollback()
    if not found:
        return EnvOptions()
    opts = found[0]
    metadata = opts.get("target_metadata")
    metadatas: tuple[sa.MetaData, ...] = (
        ()
        if metadata is None
        else (metadata,)
        if isinstance(metadata, sa.MetaData)
        else tuple(metadata)
    )
    return EnvOptions(
        target_metadata=metadatas,
        version_table=VersionTable(
            name=str(opts.get("version_table") or "alembic_version"),
            schema=opts.get("version_table_schema"),
        ),
        include_name=opts.get("include_name"),
        include_object=opts.get("include_object"),
    )


def env_failed(history: History, error: BaseException) -> Finding:
    env_py = Path(history.script.env_py_location)
    return Finding(
        code="env",
        verdict=(
            f"env.py fails before any revision runs, so no check that goes "
            f"through it ran: {error_line(error)}"
        ),
        blocks=(
            Block(title="env.py", lines=(str(env_py), *_where(error, env_py))),
            Block(title="Error", lines=(error_line(error),)),
            Block(title="What to do", lines=(_FIX_ENV,)),
        ),
    )


def raised_by_revision(error: BaseException, revision: Script) -> bool:
    """Whether ``error`` (or what it wraps) passed through the revision's file."""
    path = str(Path(revision.path).resolve())
    return any(
        str(Path(frame.filename).resolve()) == path
        for exc in _chain(error)
        for frame in traceback.extract_tb(exc.__traceback__)
    )


def _where(error: BaseException, env_py: Path) -> list[str]:
    resolved = str(env_py.resolve())
    lines = [
        f"line {frame.lineno}: {(frame.line or '').strip()}"
        for exc in _chain(error)
        for frame in traceback.extract_tb(exc.__traceback__)
        if str(Path(frame.filename).resolve()) == resolved
    ]
    return lines[-1:]


def _chain(error: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__
