"""Walk a revision's statements in order, knowing what is in force at each.

Some hazards depend on what came before a statement, not on the statement alone:
whether it runs inside a transaction block (``BEGIN`` ... ``COMMIT``; Alembic's
``autocommit_block`` commits first), which ``lock_timeout`` governs it (the one
migrationkit's ``run_migrations`` sets for the session, a ``SET`` or ``RESET`` of
the revision, a ``SET LOCAL`` that lasts until the transaction ends), and whether
its table was created earlier in the same revision (nobody else can be using it).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from migrationkit.lint.anatomy import Anatomy, Setting, anatomy
from migrationkit.lint.history import History
from migrationkit.lint.render import Origin, RenderedRevision
from migrationkit.lint.sql import Statement, split_statements
from migrationkit.pg import format_duration


@dataclass(frozen=True)
class LockTimeout:
    """The ``lock_timeout`` in force, and how it came to be."""

    in_force: bool
    how: str


@dataclass(frozen=True, kw_only=True)
class Step:
    """One statement, with what was in force when it ran."""

    index: int
    statement: Statement
    anatomy: Anatomy
    origin: Origin
    sql_line: int
    """1-based line of the statement in the rendered SQL."""
    in_transaction: bool
    lock_timeout: LockTimeout
    created_before: frozenset[str]
    """Tables created earlier in this revision (regular or temporary)."""
    temporary_tables: frozenset[str]
    """Tables this revision creates TEMPORARY (anywhere in it)."""
    catalog_only: str | None = None
    """Why the statement changes only the catalog (no scan, no rewrite), if it does."""
    created_by: str | None = None
    """The earlier revision of the linted history that created its table."""

    def is_new_table(self, name: str | None) -> bool:
        """Whether ``name`` is a table nobody else can be using yet."""
        if name is None:
            return False
        short = name.rsplit(".", 1)[-1]
        return short in self.created_before or short in self.temporary_tables


_NUMBER = re.compile(r"^\s*(\d+(?:\.\d+)?)")


def timeout_is_off(value: str) -> bool:
    """Whether a written ``lock_timeout`` value means "wait forever" (0 in any unit)."""
    match = _NUMBER.match(value.strip("'\" "))
    return match is not None and float(match.group(1)) == 0


def session_lock_timeout(
    rendered: RenderedRevision, *, configured_seconds: float
) -> LockTimeout:
    """What each revision starts with: migrationkit's setting, or nothing."""
    if not rendered.uses_run_migrations:
        return LockTimeout(
            in_force=False,
            how=(
                "env.py does not run migrations through migrationkit's "
                "run_migrations, so no lock_timeout is set for the session"
            ),
        )
    if configured_seconds <= 0:
        return LockTimeout(
            in_force=False,
            how=(
                "run_migrations sets lock_timeout = 0 (MIGRATIONKIT_LOCK_TIMEOUT is 0 "
                "where the lint ran)"
            ),
        )
    return LockTimeout(
        in_force=True,
        how=(
            f"lock_timeout = {format_duration(configured_seconds)} set for the "
            "session by migrationkit's run_migrations"
        ),
    )


def walk(
    rendered: RenderedRevision, *, session: LockTimeout, history: History | None = None
) -> list[Step]:
    """The revision's statements with transaction, timeout and new-table state.

    ``history`` (what the revisions linted before this one did) answers which
    statements are catalog-only, and learns from this revision's statements.
    """
    history = history if history is not None else History()
    revision = rendered.script.revision
    statements = split_statements(rendered.sql)
    anatomies = [anatomy(statement) for statement in statements]
    temporary = frozenset(
        _short(item.table)
        for item in anatomies
        if item.kind == "create_table" and item.temporary and item.table
    )
    steps: list[Step] = []
    created: set[str] = set()
    in_transaction = False
    local: LockTimeout | None = None
    ended_local: str | None = None
    for index, (statement, item) in enumerate(zip(statements, anatomies, strict=True)):
        origin = rendered.origin_at(statement.start)
        where = _where(origin)
        if item.kind == "begin":
            in_transaction = True
        elif item.kind == "commit":
            if local is not None:
                ended_local = f"{local.how}, but the COMMIT{where} ended it"
            in_transaction, local = False, None
        elif item.lock_timeout is not None:
            change = _applied(item.lock_timeout, statement=statement, where=where)
            if item.lock_timeout.local:
                local = change if in_transaction else local
            else:
                session, local, ended_local = change, None, None
        in_force = local or session
        if ended_local is not None and local is None and not session.in_force:
            in_force = LockTimeout(in_force=False, how=f"{ended_local}; {session.how}")
        steps.append(
            Step(
                index=index,
                statement=statement,
                anatomy=item,
                origin=origin,
                sql_line=rendered.sql.count("\n", 0, statement.start) + 1,
                in_transaction=in_transaction,
                lock_timeout=in_force,
                created_before=frozenset(created),
                temporary_tables=temporary,
                catalog_only=history.catalog_only(item, origin),
                created_by=_earlier_creator(history, item, revision),
            )
        )
        if origin.from_revision:
            history.learn(statement, item, revision=revision)
        if item.kind == "create_table" and item.table:
            created.add(_short(item.table))
    return steps


def _earlier_creator(history: History, item: Anatomy, revision: str) -> str | None:
    creator = history.creator(item.table)
    return creator if creator not in (None, revision) else None


def _short(name: str) -> str:
    return name.rsplit(".", 1)[-1]


def _where(origin: Origin) -> str:
    return f" at line {origin.line}" if origin.line is not None else ""


def _applied(setting: Setting, *, statement: Statement, where: str) -> LockTimeout:
    written = " ".join(statement.text.split())
    if setting.value is None:
        return LockTimeout(
            in_force=False,
            how=(
                f"`{written}`{where} put back the server's default (0, wait "
                "forever, unless the role or database sets one)"
            ),
        )
    if timeout_is_off(setting.value):
        return LockTimeout(in_force=False, how=f"`{written}`{where} turned it off")
    return LockTimeout(in_force=True, how=f"`{written}`{where}")
