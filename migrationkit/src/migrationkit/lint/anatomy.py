"""What a parsed statement does: its kind, the table it touches, its options.

The extra checks ask a few questions of every statement (is it an UPDATE, on which
table, is there a WHERE, is it CONCURRENTLY, does it change ``lock_timeout``); this
module answers them from the tokens of ``migrationkit.lint.sql``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from migrationkit.lint.column_types import normalize_type
from migrationkit.lint.sql import Kind, Statement, Token, top_level_parts

TRANSACTION_START = {("begin",), ("start", "transaction")}
TRANSACTION_END = {("commit",), ("end",), ("rollback",), ("abort",)}


@dataclass(frozen=True)
class Setting:
    """A change of ``lock_timeout``: ``SET [LOCAL]``, ``RESET`` or ``set_config``."""

    value: str | None
    """The new value as written; None for RESET (back to the server's default)."""
    local: bool


@dataclass(frozen=True)
class Anatomy:
    kind: str
    """``begin``, ``commit``, ``update``, ``delete``, ``create_index``,
    ``alter_table``, ``drop_table``, ``create_table``, ``do``, ... or ``other``."""
    table: str | None = None
    """The table the statement works on (for CREATE INDEX: the indexed table)."""
    concurrently: bool = False
    if_not_exists: bool = False
    temporary: bool = False
    references: tuple[str, ...] = ()
    """Tables a CREATE TABLE or ADD FOREIGN KEY refers to (they get locked too)."""
    actions: tuple[tuple[Token, ...], ...] = field(default=())
    """ALTER TABLE's comma-separated actions."""
    lock_timeout: Setting | None = None

    @property
    def ends_transaction(self) -> bool:
        return self.kind == "commit"

    @property
    def locks_table(self) -> bool:
        """Whether the statement waits for a table-level lock other sessions hold.

        Plain DML takes ROW EXCLUSIVE, which conflicts with no other DML; the DDL
        listed here takes SHARE UPDATE EXCLUSIVE or stronger, and queues.
        """
        return self.kind in _LOCKING_KINDS and self.table is not None


_LOCKING_KINDS = {
    "alter_table",
    "create_index",
    "drop_table",
    "drop_index",
    "truncate",
    "lock",
    "create_trigger",
    "drop_trigger",
    "reindex",
    "cluster",
    "vacuum_full",
    "alter_index",
    "create_table",  # only when it references an existing table
}


def anatomy(statement: Statement) -> Anatomy:
    """Describe ``statement``; unknown statements are ``other``."""
    words = statement.words(4)
    if words[:1] in TRANSACTION_START or words[:2] in TRANSACTION_START:
        return Anatomy("begin")
    if words[:1] in TRANSACTION_END:
        return Anatomy("commit")
    first = words[0] if words else ""
    handler = _HANDLERS.get(first)
    return handler(statement) if handler else Anatomy("other")


def _skip_if_exists(statement: Statement, index: int) -> tuple[int, bool]:
    """Skip ``IF [NOT] EXISTS`` at ``index``; return the next index and if it was."""
    tokens = statement.tokens
    if index < len(tokens) and tokens[index].is_word("if"):
        step = 3 if index + 1 < len(tokens) and tokens[index + 1].is_word("not") else 2
        return index + step, True
    return index, False


def _skip_only(statement: Statement, index: int) -> int:
    if index < len(statement.tokens) and statement.tokens[index].is_word("only"):
        return index + 1
    return index


def _update(statement: Statement) -> Anatomy:
    index = _skip_only(statement, 1)
    return Anatomy("update", table=statement.name_at(index))


def _delete(statement: Statement) -> Anatomy:
    index = statement.find("from")
    if index is None:
        return Anatomy("other")
    return Anatomy("delete", table=statement.name_at(_skip_only(statement, index + 1)))


def _set(statement: Statement) -> Anatomy:
    index = 1
    local = False
    if statement.tokens[1:2] and statement.tokens[1].is_word("local", "session"):
        local = statement.tokens[1].value == "local"
        index = 2
    if statement.name_at(index) != "lock_timeout":
        return Anatomy("set")
    rest = statement.tokens[index + 1 :]
    if rest and rest[0].value in ("=", "to"):
        rest = rest[1:]
    value = " ".join(token.value for token in rest)
    if value == "default":
        return Anatomy("set", lock_timeout=Setting(None, local=local))
    return Anatomy("set", lock_timeout=Setting(value, local=local))


def _reset(statement: Statement) -> Anatomy:
    target = statement.name_at(1)
    if target in ("lock_timeout", "all"):
        return Anatomy("set", lock_timeout=Setting(None, local=False))
    return Anatomy("set")


def _select(statement: Statement) -> Anatomy:
    """``SELECT set_config('lock_timeout', value, is_local)`` changes it too."""
    tokens = statement.tokens
    for index, token in enumerate(tokens):
        if not token.is_word("set_config"):
            continue
        call = _call_arguments(tokens, index + 1)
        if len(call) == 3 and call[0] and call[0][0].value == "lock_timeout":
            value = call[1][0].value if call[1] else None
            local = bool(call[2]) and call[2][0].is_word("true")
            return Anatomy("select", lock_timeout=Setting(value, local=local))
    return Anatomy("select")


def _call_arguments(tokens: tuple[Token, ...], open_index: int) -> list[list[Token]]:
    """Arguments of the call whose ``(`` is at ``open_index``."""
    if open_index >= len(tokens) or tokens[open_index].value != "(":
        return []
    depth = tokens[open_index].depth
    arguments: list[list[Token]] = [[]]
    for token in tokens[open_index + 1 :]:
        if token.value == ")" and token.depth == depth:
            break
        if token.value == "," and token.depth == depth + 1:
            arguments.append([])
        else:
            arguments[-1].append(token)
    return arguments


def _create(statement: Statement) -> Anatomy:
    tokens = statement.tokens
    index = 1
    temporary = False
    while index < len(tokens) and tokens[index].is_word(
        "unique", "temporary", "temp", "unlogged", "or", "replace", "global", "local"
    ):
        temporary = temporary or tokens[index].value in ("temporary", "temp")
        index += 1
    if index >= len(tokens):
        return Anatomy("other")
    noun = tokens[index].value
    if noun == "index":
        return _create_index(statement, index + 1)
    if noun == "table":
        name_at, if_not_exists = _skip_if_exists(statement, index + 1)
        return Anatomy(
            "create_table",
            table=statement.name_at(name_at),
            if_not_exists=if_not_exists,
            temporary=temporary,
            references=_references(statement),
        )
    if noun in ("trigger", "constraint"):
        on = statement.find("on")
        table = statement.name_at(on + 1) if on is not None else None
        return Anatomy("create_trigger", table=table)
    return Anatomy("create_" + noun)


def _create_index(statement: Statement, index: int) -> Anatomy:
    tokens = statement.tokens
    concurrently = index < len(tokens) and tokens[index].is_word("concurrently")
    if concurrently:
        index += 1
    _, if_not_exists = _skip_if_exists(statement, index)
    on = statement.find("on", start=index)
    table = statement.name_at(_skip_only(statement, on + 1)) if on is not None else None
    return Anatomy(
        "create_index",
        table=table,
        concurrently=concurrently,
        if_not_exists=if_not_exists,
    )


def _references(statement: Statement) -> tuple[str, ...]:
    found: list[str] = []
    for index, token in enumerate(statement.tokens):
        if token.is_word("references"):
            name = statement.name_at(index + 1)
            if name:
                found.append(name)
    return tuple(found)


def _alter(statement: Statement) -> Anatomy:
    tokens = statement.tokens
    noun = tokens[1].value if len(tokens) > 1 else ""
    if noun == "index":
        name_at, _ = _skip_if_exists(statement, 2)
        return Anatomy("alter_index", table=statement.name_at(name_at))
    if noun != "table":
        return Anatomy("alter_" + noun)
    index, _ = _skip_if_exists(statement, 2)
    index = _skip_only(statement, index)
    table = statement.name_at(index)
    after_name = index + 2 * (table or "").count(".") + 1
    actions = tuple(
        tuple(part) for part in top_level_parts(statement, after_name, None)
    )
    return Anatomy(
        "alter_table",
        table=table,
        actions=actions,
        references=_references(statement),
        concurrently=statement.has("concurrently"),
    )


def _drop(statement: Statement) -> Anatomy:
    tokens = statement.tokens
    noun = tokens[1].value if len(tokens) > 1 else ""
    if noun == "index":
        index = 2
        concurrently = index < len(tokens) and tokens[index].is_word("concurrently")
        index, if_exists = _skip_if_exists(statement, index + int(concurrently))
        return Anatomy(
            "drop_index",
            table=statement.name_at(index),
            concurrently=concurrently,
            if_not_exists=if_exists,
        )
    if noun == "table":
        index, if_exists = _skip_if_exists(statement, 2)
        return Anatomy(
            "drop_table", table=statement.name_at(index), if_not_exists=if_exists
        )
    if noun == "trigger":
        on = statement.find("on")
        table = statement.name_at(on + 1) if on is not None else None
        return Anatomy("drop_trigger", table=table)
    return Anatomy("drop_" + noun)


def _truncate(statement: Statement) -> Anatomy:
    index = 1
    if statement.tokens[1:2] and statement.tokens[1].is_word("table"):
        index = 2
    return Anatomy("truncate", table=statement.name_at(_skip_only(statement, index)))


def _lock(statement: Statement) -> Anatomy:
    index = 1
    if statement.tokens[1:2] and statement.tokens[1].is_word("table"):
        index = 2
    return Anatomy("lock", table=statement.name_at(_skip_only(statement, index)))


def _reindex(statement: Statement) -> Anatomy:
    index = 2
    concurrently = statement.has("concurrently")
    if statement.tokens[index : index + 1] and statement.tokens[index].is_word(
        "concurrently"
    ):
        index += 1
    return Anatomy("reindex", table=statement.name_at(index), concurrently=concurrently)


def _vacuum(statement: Statement) -> Anatomy:
    if not statement.has("full", depth=None):
        return Anatomy("vacuum")
    last = statement.tokens[-1]
    name = last.value if last.kind in (Kind.WORD, Kind.IDENT) else None
    return Anatomy("vacuum_full", table=name)


def _cluster(statement: Statement) -> Anatomy:
    return Anatomy("cluster", table=statement.name_at(1))


def _do(_statement: Statement) -> Anatomy:
    return Anatomy("do")


def _insert(statement: Statement) -> Anatomy:
    return Anatomy("insert", table=statement.name_at(2))


_HANDLERS: dict[str, Callable[[Statement], Anatomy]] = {
    "update": _update,
    "delete": _delete,
    "set": _set,
    "reset": _reset,
    "select": _select,
    "create": _create,
    "alter": _alter,
    "drop": _drop,
    "truncate": _truncate,
    "lock": _lock,
    "reindex": _reindex,
    "vacuum": _vacuum,
    "cluster": _cluster,
    "do": _do,
    "insert": _insert,
}


def action_words(action: tuple[Token, ...], count: int) -> tuple[str, ...]:
    """The first ``count`` values of an ALTER TABLE action."""
    return tuple(token.value for token in action[:count])


def type_change(action: tuple[Token, ...]) -> tuple[str, str] | None:
    """(column, new type) of ``ALTER [COLUMN] col [SET DATA] TYPE t [USING ...]``."""
    words = [token.value for token in action]
    if not words or words[0] != "alter" or "type" not in words:
        return None
    position = 2 if words[1:2] == ["column"] else 1
    column = words[position] if position < len(words) else "?"
    start = words.index("type") + 1
    new_type: list[str] = []
    for token in action[start:]:
        if token.depth == 0 and token.is_word("using", "collate"):
            break
        new_type.append(token.value)
    return column, normalize_type(" ".join(new_type))
