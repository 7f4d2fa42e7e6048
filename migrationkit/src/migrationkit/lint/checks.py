"""The checks squawk lacks, one function per rule, over the walked statements.

Each check looks at one ``Step`` (a statement with what was in force when it ran)
and returns a message when the rule applies. Statements Alembic writes for itself
(the version table) and statements on a table created earlier in the same
revision are never flagged: nobody else can be waiting on them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from migrationkit.lint import rules
from migrationkit.lint.anatomy import action_words, type_change
from migrationkit.lint.column_types import narrowing
from migrationkit.lint.sql import Kind, Token
from migrationkit.lint.walk import Step

BACKFILL_MARKER = "migrationkit: backfill"
"""How ``backfill_in_batches`` introduces the one UPDATE it shows in --sql mode."""

BATCHED_OPERATIONS = {"backfill_in_batches", "add_not_null_column"}


@dataclass(frozen=True)
class Hit:
    """A rule that applies to one statement, and why."""

    rule: rules.Rule
    step: Step
    message: str


def _unbatched_update(step: Step) -> str | None:
    item = step.anatomy
    if item.kind not in ("update", "delete") or step.is_new_table(item.table):
        return None
    if step.origin.safe_operation in BATCHED_OPERATIONS or any(
        comment.startswith(BACKFILL_MARKER) for comment in step.statement.comments
    ):
        return None
    verb = item.kind.upper()
    tokens = step.statement.tokens
    where = step.statement.find("where")
    if where is None:
        return (
            f"{verb} of every row of {item.table} in one statement: each row stays "
            "locked until the migration's transaction commits"
        )
    clause = [
        token
        for token in tokens[where + 1 :]
        if not (token.depth == 0 and token.is_word("returning"))
    ]
    if any(token.is_word("limit") and token.depth > 0 for token in clause):
        return None  # one batch: the keys come from a LIMITed subquery
    if _targets_keys(clause):
        return None
    return (
        f"{verb} of {item.table} in one statement for every row its WHERE matches "
        "(not batched): each matched row stays locked until the transaction commits"
    )


def _targets_keys(clause: list[Token]) -> bool:
    """``WHERE col = <literal>`` or ``col IN (<literals>)`` at the top level."""
    literal = (Kind.STRING, Kind.NUMBER, Kind.PARAM)
    for position in range(len(clause) - 2):
        name, operator, value = clause[position : position + 3]
        if name.depth != 0 or name.kind not in (Kind.WORD, Kind.IDENT):
            continue
        if operator.value == "=" and value.kind in literal:
            return True
        if operator.is_word("in") and value.value == "(":
            inside = [token for token in clause[position + 3 :] if token.depth > 0]
            if inside and all(
                token.kind in literal or token.value == "," for token in inside
            ):
                return True
    return False


def _concurrently_in_transaction(step: Step) -> str | None:
    item = step.anatomy
    if not (item.concurrently and step.in_transaction):
        return None
    if item.kind not in ("create_index", "drop_index", "reindex", "alter_table"):
        return None
    verb = item.kind.replace("_", " ").upper()
    return (
        f"{verb} ... CONCURRENTLY runs inside a transaction block: PostgreSQL "
        'refuses it ("cannot run inside a transaction block")'
    )


def _lock_without_timeout(step: Step) -> str | None:
    item = step.anatomy
    if not item.locks_table or step.lock_timeout.in_force:
        return None
    if item.kind == "create_table":
        existing = [name for name in item.references if not step.is_new_table(name)]
        if not existing:
            return None
        table = ", ".join(existing)
    elif step.is_new_table(item.table):
        return None
    else:
        table = str(item.table)
    return (
        f"waits for a lock on {table} with no lock_timeout in force "
        f"({step.lock_timeout.how}): behind one long transaction it queues, and "
        "every query on the table queues behind it"
    )


def _destructive(step: Step) -> str | None:  # noqa: PLR0911 - one answer per kind of loss
    item = step.anatomy
    if step.is_new_table(item.table):
        return None
    if item.kind == "drop_table":
        return f"drops table {item.table} and every row in it"
    if item.kind == "truncate":
        return f"empties table {item.table}"
    if item.kind != "alter_table":
        return None
    for action in item.actions:
        words = action_words(action, 3)
        if words[:1] == ("drop",) and words[1:2] != ("constraint",):
            column = words[2] if words[1:2] == ("column",) else words[1]
            if column == "if":
                column = action_words(action, 6)[-1]
            return f"drops column {item.table}.{column} and its data"
        change = type_change(action)
        if change is not None:
            column, new_type = change
            why = narrowing(step.origin.old_type, new_type)
            if why is not None:
                return f"changes the type of {item.table}.{column} to {new_type}: {why}"
    return None


def _opaque(step: Step) -> str | None:
    if step.anatomy.kind != "do":
        return None
    return (
        "a DO block runs statements the linter cannot see (its body is a string); "
        "their locks are not checked"
    )


def _invalid_index_kept(step: Step) -> str | None:
    item = step.anatomy
    if not (item.kind == "create_index" and item.concurrently and item.if_not_exists):
        return None
    if step.is_new_table(item.table):
        return None
    return (
        f"CREATE INDEX CONCURRENTLY IF NOT EXISTS on {item.table}: if an earlier "
        "build failed, its INVALID index has this name and is kept as it is"
    )


def _foreign_key_in_create_table(step: Step) -> str | None:
    item = step.anatomy
    if item.kind != "create_table":
        return None
    existing = [name for name in item.references if not step.is_new_table(name)]
    if not existing:
        return None
    return (
        f"CREATE TABLE {item.table} references {', '.join(existing)}: that table "
        "stays locked against writes until the transaction commits"
    )


@dataclass(frozen=True)
class Check:
    """A rule and the function that checks one statement for it.

    The function returns the message when the rule applies to the statement,
    else None. Plugins add their own (``migrationkit.lint.plugins``).
    """

    rule: rules.Rule
    check: Callable[[Step], str | None]


CHECKS: tuple[Check, ...] = (
    Check(rules.UNBATCHED_UPDATE, _unbatched_update),
    Check(rules.CONCURRENTLY_IN_TRANSACTION, _concurrently_in_transaction),
    Check(rules.NO_LOCK_TIMEOUT, _lock_without_timeout),
    Check(rules.DESTRUCTIVE, _destructive),
    Check(rules.OPAQUE_SQL, _opaque),
    Check(rules.INVALID_INDEX_KEPT, _invalid_index_kept),
    Check(rules.FOREIGN_KEY_IN_CREATE_TABLE, _foreign_key_in_create_table),
)
"""Each extra rule and the function that checks one statement for it."""

STILL_CHECKED_IN_SAFE_OPERATIONS = {rules.NO_LOCK_TIMEOUT.code}
"""A safe operation still waits for its brief locks: lock_timeout must be on."""


def run_checks(steps: list[Step], *, checks: tuple[Check, ...] = CHECKS) -> list[Hit]:
    """Every extra rule over every statement the revision itself wrote."""
    hits: list[Hit] = []
    for step in steps:
        if not step.origin.from_revision:
            continue
        for rule, check in ((item.rule, item.check) for item in checks):
            if (
                step.origin.safe_operation is not None
                and rule.code not in STILL_CHECKED_IN_SAFE_OPERATIONS
            ):
                continue
            message = check(step)
            if message is not None:
                hits.append(Hit(rule, step, message))
    return hits
