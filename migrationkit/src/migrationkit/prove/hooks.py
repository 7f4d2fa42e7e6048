"""Data hooks: prove a data migration on data.

A schema check cannot tell whether a backfill filled the right values or a
migration that moves rows lost some. A ``DataHook`` puts rows in before one
revision and asserts on them after it::

    def users_without_usernames(connection: sa.Connection) -> int:
        connection.execute(sa.text("INSERT INTO users ..."))
        return 3_000

    def every_user_has_a_username(connection: sa.Connection, users: int) -> None:
        filled = connection.scalar(sa.text("SELECT count(username) FROM users"))
        assert filled == users, f"{users - filled} users have no username"

    DataHook(revision="003", before=users_without_usernames,
             after=every_user_has_a_username)

``before`` runs on the walk's database at the revision's parent (its work is
committed); whatever it returns is handed to ``after``, which runs after the
upgrade and again after the round trip (down, up again), so a data migration is
also proven to survive being re-run. An ``AssertionError`` (or any exception)
in ``after`` is the failure; its message is shown. The rows stay for the
revisions after it, as a real database's would: a later revision that cannot
cope with existing rows fails in the proof as in the deploy.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from alembic.script import Script

from migrationkit.prove.history import describe
from migrationkit.prove.report import Block, Finding, error_line, revision_block


@dataclass(frozen=True, kw_only=True)
class DataHook:
    """Rows put in before ``revision``, checked after it."""

    revision: str
    before: Callable[[sa.Connection], Any] | None = None
    after: Callable[[sa.Connection, Any], None] | None = None

    @property
    def name(self) -> str:
        names = [
            getattr(fn, "__name__", type(fn).__name__)
            for fn in (self.before, self.after)
            if fn is not None
        ]
        return " / ".join(names) or f"data hook for {self.revision}"


def hooks_for(hooks: Sequence[DataHook], revision: str) -> list[DataHook]:
    return [hook for hook in hooks if hook.revision == revision]


def run_before(
    connection: sa.Connection, hooks: Sequence[DataHook], revision: Script
) -> tuple[list[Any], Finding | None]:
    """Each hook's ``before``, committed; the values they return, in order."""
    states: list[Any] = []
    for hook in hooks:
        try:
            states.append(hook.before(connection) if hook.before else None)
            connection.commit()
        except Exception as exc:  # noqa: BLE001 - the hook's error is the finding
            connection.rollback()
            return states, _failed(hook, revision, exc, when="before it")
    return states, None


def run_after(
    connection: sa.Connection,
    hooks: Sequence[DataHook],
    states: Sequence[Any],
    revision: Script,
    *,
    when: str,
) -> Finding | None:
    """Each hook's ``after``; the first failure, if any. Nothing is committed."""
    try:
        for hook, state in zip(hooks, states, strict=True):
            if hook.after is None:
                continue
            try:
                hook.after(connection, state)
            except Exception as exc:  # noqa: BLE001 - the hook's error is the finding
                return _failed(hook, revision, exc, when=when)
        return None
    finally:
        if connection.in_transaction():
            connection.rollback()


def _failed(hook: DataHook, revision: Script, exc: Exception, *, when: str) -> Finding:
    message = (
        str(exc).strip() or "assertion failed"
        if isinstance(exc, AssertionError)
        else error_line(exc)
    )
    return Finding(
        code="data",
        verdict=(
            f"data hook {hook.name} failed {when}, revision {describe(revision)}: "
            f"{message.splitlines()[0]}"
        ),
        revision=revision.revision,
        blocks=(
            revision_block(revision),
            Block(title="Data hook", lines=(hook.name, *message.splitlines()[1:20])),
        ),
    )
