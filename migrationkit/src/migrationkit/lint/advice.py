"""The call that fixes one finding, with its arguments read from the statement.

A rule's ``alternative`` says what to write in general; a reviewer wants the line
to paste: ``op.create_index_concurrently("ix_users_email", "users", ["email"])``
for the ``CREATE INDEX ix_users_email ON users (email)`` the revision wrote. Each
function below reads one kind of statement's tokens and returns that call, or
None when the statement is not the shape it knows (the rule's text is shown
then).
"""

from __future__ import annotations

from collections.abc import Callable

from migrationkit.lint import rules
from migrationkit.lint.anatomy import action_words, type_change
from migrationkit.lint.sql import Kind, Statement, Token
from migrationkit.lint.walk import Step

_NAMES = (Kind.WORD, Kind.IDENT)


def advice_for(rule: rules.Rule, step: Step) -> str | None:
    """The concrete call that fixes ``rule``'s finding on ``step``, if it is known."""
    advise = _BY_RULE.get(rule.code)
    return advise(step) if advise is not None else None


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _names(items: list[str]) -> str:
    return "[" + ", ".join(_quote(item) for item in items) + "]"


def _table_arguments(name: str) -> tuple[str, str]:
    """(``"table"``, ``, schema="s"`` or nothing) for a possibly qualified name."""
    schema, _, table = name.rpartition(".")
    return _quote(table), (f", schema={_quote(schema)}" if schema else "")


def _source(statement: Statement, first: int, stop: int | None) -> str:
    """The statement's own text from token ``first`` up to token ``stop``."""
    tokens = statement.tokens
    begin = tokens[first].start - statement.start
    end = (
        tokens[stop].start - statement.start
        if stop is not None and stop < len(tokens)
        else len(statement.text)
    )
    return " ".join(statement.text[begin:end].split())


def _parenthesized(tokens: tuple[Token, ...], opening: int) -> list[str]:
    """The comma-separated items of the parentheses opening at ``opening``."""
    depth = tokens[opening].depth
    items: list[list[str]] = [[]]
    for token in tokens[opening + 1 :]:
        if token.value == ")" and token.depth == depth:
            break
        if token.value == "," and token.depth == depth + 1:
            items.append([])
        else:
            items[-1].append(token.value)
    return [" ".join(item) for item in items if item]


def _next_paren(tokens: tuple[Token, ...], start: int) -> int | None:
    for index in range(start, len(tokens)):
        if tokens[index].value == "(":
            return index
    return None


# ---------------------------------------------------------------- indexes


def _create_index_call(step: Step) -> str | None:
    statement = step.statement
    tokens = statement.tokens
    if step.anatomy.kind != "create_index" or step.anatomy.table is None:
        return None
    on = statement.find("on")
    if on is None:
        return None
    words = [token.value for token in tokens[:on]]
    candidates = [
        token.value
        for token in tokens[2:on]
        if token.kind in _NAMES
        and token.value not in ("index", "concurrently", "if", "not", "exists")
    ]
    name = candidates[-1] if candidates else "ix_<table>_<columns>"
    opening = _next_paren(tokens, on)
    if opening is None:
        return None
    columns = _parenthesized(tokens, opening)
    table, schema = _table_arguments(step.anatomy.table)
    extra = ", unique=True" if "unique" in words else ""
    where = statement.find("where")
    if where is not None:
        extra += f", where={_quote(_source(statement, where + 1, None))}"
    return (
        f"op.create_index_concurrently({_quote(name)}, {table}, {_names(columns)}"
        f"{extra}{schema})"
    )


def _drop_index_call(step: Step) -> str | None:
    if step.anatomy.kind != "drop_index" or step.anatomy.table is None:
        return None
    index, schema = _table_arguments(step.anatomy.table)
    return f"op.drop_index_concurrently({index}{schema})"


def _index_call(step: Step) -> str | None:
    return _create_index_call(step) or _drop_index_call(step)


# ------------------------------------------------------------ constraints


def _constraint(step: Step, kind: str) -> tuple[str, tuple[Token, ...]] | None:
    """(name, tokens after it) of the action ``ADD [CONSTRAINT n] <kind> ...``."""
    for action in step.anatomy.actions:
        words = action_words(action, 4)
        if words[:1] != ("add",):
            continue
        if words[1:2] == ("constraint",) and len(words) > 3 and words[3] == kind:
            return words[2], action[3:]
        if words[1:2] == (kind,):
            return f"<name of the {kind} constraint>", action[1:]
    return None


def _foreign_key_call(step: Step) -> str | None:
    found = _constraint(step, "foreign")
    if found is None or step.anatomy.table is None:
        return None
    name, rest = found
    opening = _next_paren(rest, 0)
    references = next(
        (i for i, token in enumerate(rest) if token.is_word("references")), None
    )
    if opening is None or references is None or references + 1 >= len(rest):
        return None
    local = _parenthesized(rest, opening)
    remote_open = _next_paren(rest, references)
    remote = _parenthesized(rest, remote_open) if remote_open is not None else ["id"]
    referent = rest[references + 1].value
    table, schema = _table_arguments(step.anatomy.table)
    on_delete = next(
        (
            rest[i + 2].value.upper()
            for i, token in enumerate(rest[:-2])
            if token.is_word("on") and rest[i + 1].is_word("delete")
        ),
        None,
    )
    extra = f", ondelete={_quote(on_delete)}" if on_delete else ""
    return (
        f"op.add_foreign_key_not_valid({_quote(name)}, {table}, {_quote(referent)}, "
        f"{_names(local)}, {_names(remote)}{extra}{schema})"
    )


def _unique_call(step: Step) -> str | None:
    found = _constraint(step, "unique")
    if found is None or step.anatomy.table is None:
        return None
    name, rest = found
    opening = _next_paren(rest, 0)
    if opening is None:
        return None
    table, schema = _table_arguments(step.anatomy.table)
    columns = _names(_parenthesized(rest, opening))
    return (
        f"op.add_unique_constraint_using_index({_quote(name)}, {table}, {columns}"
        f"{schema})"
    )


def _primary_key_call(step: Step) -> str | None:
    found = _constraint(step, "primary")
    if found is None or step.anatomy.table is None:
        return None
    name, rest = found
    opening = _next_paren(rest, 0)
    if opening is None:
        return None
    table, schema = _table_arguments(step.anatomy.table)
    columns = _names(_parenthesized(rest, opening))
    attach = (
        f"ALTER TABLE {step.anatomy.table} ADD CONSTRAINT {name} PRIMARY KEY "
        f"USING INDEX {name}"
    )
    return (
        f"op.create_index_concurrently({_quote(name)}, {table}, {columns}, "
        f"unique=True{schema}), then op.execute({_quote(attach)})"
    )


def _check_call(step: Step) -> str | None:
    found = _constraint(step, "check")
    if found is None or step.anatomy.table is None:
        return None
    name, _ = found
    table, schema = _table_arguments(step.anatomy.table)
    return (
        f"op.execute({_quote(step.statement.text.strip() + ' NOT VALID')}), then "
        f"op.validate_constraint({_quote(name)}, {table}{schema})"
    )


def _not_valid_call(step: Step) -> str | None:
    return (
        _foreign_key_call(step)
        or _check_call(step)
        or _unique_call(step)
        or _primary_key_call(step)
    )


# ---------------------------------------------------------------- columns


def _not_null_call(step: Step) -> str | None:
    if step.anatomy.table is None:
        return None
    for action in step.anatomy.actions:
        words = action_words(action, 6)
        position = 2 if words[1:2] == ("column",) else 1
        if words[:1] == ("alter",) and words[position + 1 : position + 4] == (
            "set",
            "not",
            "null",
        ):
            table, schema = _table_arguments(step.anatomy.table)
            return f"op.add_not_null({table}, {_quote(words[position])}{schema})"
    return None


def _required_column_call(step: Step) -> str | None:
    if step.anatomy.table is None:
        return None
    for action in step.anatomy.actions:
        words = action_words(action, 3)
        if words[:1] != ("add",):
            continue
        at = 2 if words[1:2] == ("column",) else 1
        if at >= len(action):
            continue
        column = action[at].value
        type_tokens = [
            token.value
            for token in action[at + 1 :]
            if not token.is_word("not", "null", "default", "constraint")
        ][:1]
        table, schema = _table_arguments(step.anatomy.table)
        type_name = type_tokens[0] if type_tokens else "<type>"
        return (
            f"op.add_not_null_column({table}, sa.Column({_quote(column)}, "
            f"<sa type for {type_name}>, nullable=False), backfill_sql="
            f"{_quote(column + ' = <value for the existing rows>')}{schema})"
        )
    return None


# ------------------------------------------------------------- data, tables


def _backfill_call(step: Step) -> str | None:
    statement = step.statement
    if step.anatomy.kind != "update" or step.anatomy.table is None:
        return None
    set_at = statement.find("set")
    if set_at is None:
        return None
    where = statement.find("where")
    returning = statement.find("returning")
    set_sql = _source(statement, set_at + 1, where if where is not None else returning)
    pending = (
        _source(statement, where + 1, returning)
        if where is not None
        else "<true only for rows not updated yet>"
    )
    table, schema = _table_arguments(step.anatomy.table)
    return (
        f"op.backfill_in_batches(table={table}, set_sql={_quote(set_sql)}, "
        f"pending_sql={_quote(pending)}{schema})"
    )


def _foreign_key_after_create(step: Step) -> str | None:
    item = step.anatomy
    if item.kind != "create_table" or item.table is None or not item.references:
        return None
    tokens = step.statement.tokens
    references = next(
        i for i, token in enumerate(tokens) if token.is_word("references")
    )
    remote_open = _next_paren(tokens, references)
    remote = (
        _parenthesized(tokens, remote_open)
        if remote_open is not None and remote_open <= references + 4
        else ["id"]
    )
    local = _local_columns(tokens, references)
    table, schema = _table_arguments(item.table)
    name = f"fk_{item.table.rsplit('.', 1)[-1]}_{'_'.join(local)}"
    return (
        f"create {item.table} without the foreign key, then "
        f"op.add_foreign_key_not_valid({_quote(name)}, {table}, "
        f"{_quote(item.references[0])}, {_names(local)}, {_names(remote)}{schema})"
    )


def _local_columns(tokens: tuple[Token, ...], references: int) -> list[str]:
    """Referencing columns: ``FOREIGN KEY (a)``, or column ``a`` of ``a REFERENCES``."""
    before = tokens[:references]
    if before and before[-1].value == ")":
        opening = max(
            i
            for i, token in enumerate(before)
            if token.value == "(" and token.depth == before[-1].depth
        )
        return _parenthesized(tokens, opening)
    for index in range(references - 1, -1, -1):
        if tokens[index].value in (",", "(") and tokens[index].depth <= 1:
            return [tokens[index + 1].value]
    return ["<column>"]


def _run_migrations_call(_step: Step) -> str:
    return (
        "in env.py: from migrationkit.runtime import run_migrations; "
        "run_migrations(context, target_metadata=target_metadata)"
    )


def _acknowledge(step: Step) -> str:
    where = f"line {step.origin.line}" if step.origin.line else "the call"
    return (
        "once no deployed release needs what it drops, write on the line above "
        f"{where}: # migrationkit-lint: allow MK104 -- <why nothing needs it any more>"
    )


def _lock_timeout_call(step: Step) -> str:
    how = step.lock_timeout.how
    if "run_migrations" in how and "`" not in how:
        return _run_migrations_call(step)
    return (
        "remove what turned lock_timeout off (" + how + "); where a step must wait "
        "longer, op.execute(\"SET LOCAL lock_timeout = '5s'\") inside its "
        "transaction"
    )


def _delete_call(step: Step) -> str | None:
    statement = step.statement
    where = statement.find("where")
    if step.anatomy.table is None:
        return None
    condition = _source(statement, where + 1, None) if where is not None else "true"
    table = step.anatomy.table
    batch = (
        f"DELETE FROM {table} WHERE id IN (SELECT id FROM {table} WHERE "
        f"{condition} LIMIT 2000)"
    )
    return (
        "with op.get_context().autocommit_block(): repeat "
        f"op.get_bind().execute(sa.text({_quote(batch)})) until its rowcount is 0"
    )


def _unbatched_call(step: Step) -> str | None:
    return _backfill_call(step) or _delete_call(step)


def _type_change_call(step: Step) -> str | None:
    if step.anatomy.table is None:
        return None
    for action in step.anatomy.actions:
        change = type_change(action)
        if change is None:
            continue
        column, new_type = change
        table, schema = _table_arguments(step.anatomy.table)
        new = f"{column}_new"
        return (
            "expand/contract: "
            f"op.add_column({table}, sa.Column({_quote(new)}, <sa type for "
            f"{new_type}>){schema}), a sync trigger, op.backfill_in_batches("
            f"table={table}, set_sql={_quote(f'{new} = {column}::{new_type}')}, "
            f"pending_sql={_quote(f'{new} IS NULL AND {column} IS NOT NULL')}"
            f"{schema}), then switch the names and drop {column}"
        )
    return None


_BY_RULE: dict[str, Callable[[Step], str | None]] = {
    "require-concurrent-index-creation": _create_index_call,
    "require-concurrent-index-deletion": _drop_index_call,
    "prefer-robust-stmts": _index_call,
    "ban-concurrent-index-creation-in-transaction": _create_index_call,
    rules.CONCURRENTLY_IN_TRANSACTION.code: _index_call,
    rules.INVALID_INDEX_KEPT.code: _create_index_call,
    "adding-foreign-key-constraint": _foreign_key_call,
    "constraint-missing-not-valid": _not_valid_call,
    "disallowed-unique-constraint": _unique_call,
    "adding-serial-primary-key-field": _primary_key_call,
    "adding-not-nullable-field": _not_null_call,
    "adding-required-field": _required_column_call,
    rules.UNBATCHED_UPDATE.code: _unbatched_call,
    "changing-column-type": _type_change_call,
    rules.FOREIGN_KEY_IN_CREATE_TABLE.code: _foreign_key_after_create,
    rules.NO_LOCK_TIMEOUT.code: _lock_timeout_call,
    rules.DESTRUCTIVE.code: _acknowledge,
}
