"""What the linted history has already done to the schema, statement by statement.

Offline there is no catalog to ask, but the revisions being linted say a lot:
which tables they created (and in which revision, following ``RENAME TO``: a
table keeps its creator under its new name), which columns they made NOT NULL,
which ``CHECK (col IS NOT NULL)`` constraints they added and validated. The
walk asks this record, before each statement, whether the statement is
catalog-only:

* ``SET NOT NULL`` on a column already NOT NULL (``existing_nullable=False``, or
  made so earlier in the linted history) does nothing; on a column a validated
  ``CHECK (col IS NOT NULL)`` covers, PostgreSQL 12+ skips the scan;
* ``ALTER COLUMN TYPE`` that PostgreSQL does without a rewrite (see
  ``column_types.catalog_only``), when the old type is known.

It is only as complete as the history linted: a revision selected with
``--since-revision`` is judged without what earlier revisions did.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from migrationkit.lint.anatomy import Anatomy, action_words, type_change
from migrationkit.lint.column_types import catalog_only
from migrationkit.lint.render import Origin
from migrationkit.lint.sql import Kind, Statement, Token

_TABLE_LEVEL = {
    "constraint",
    "primary",
    "unique",
    "check",
    "foreign",
    "exclude",
    "like",
}


@dataclass(frozen=True)
class NotNullCheck:
    table: str
    column: str
    validated: bool


@dataclass
class History:
    """The schema facts the linted revisions established, oldest first."""

    created: dict[str, str] = field(default_factory=dict)
    """Table -> the revision that created it."""
    not_null: dict[tuple[str, str], str] = field(default_factory=dict)
    """(table, column) -> the revision that made it NOT NULL."""
    checks: dict[str, NotNullCheck] = field(default_factory=dict)
    """Constraint name -> the ``CHECK (col IS NOT NULL)`` it is."""

    def creator(self, table: str | None) -> str | None:
        return self.created.get(short(table)) if table else None

    def catalog_only(self, item: Anatomy, origin: Origin) -> str | None:
        """Why the statement changes only the catalog (no scan, no rewrite)."""
        if item.kind != "alter_table" or not item.actions or item.table is None:
            return None
        reasons = [
            self._action_reason(item.table, action, origin) for action in item.actions
        ]
        if any(reason is None for reason in reasons):
            return None
        return "; ".join(reason for reason in reasons if reason)

    def _action_reason(
        self, table: str, action: tuple[Token, ...], origin: Origin
    ) -> str | None:
        column = _set_not_null(action)
        if column is not None:
            return self._not_null_reason(table, column, origin)
        added = _stable_default(action)
        if added is not None:
            column, value = added
            return (
                f"{column}'s default {value.upper()} is stable, not volatile: "
                "PostgreSQL 11+ stores it once, without rewriting the table"
            )
        change = type_change(action)
        if change is not None:
            column, new_type = change
            if catalog_only(origin.old_type, new_type):
                return (
                    f"{column} from {origin.old_type} to {new_type} changes only the "
                    "catalog (PostgreSQL rewrites nothing)"
                )
        return None

    def _not_null_reason(self, table: str, column: str, origin: Origin) -> str | None:
        if origin.existing_nullable is False:
            return f"{column} is already NOT NULL (existing_nullable=False)"
        made_by = self.not_null.get((short(table), column))
        if made_by is not None:
            return f"{column} is already NOT NULL (since revision {made_by})"
        for name, check in self.checks.items():
            if check.validated and (check.table, check.column) == (
                short(table),
                column,
            ):
                return (
                    f"the validated CHECK {name} ({column} IS NOT NULL) proves it: "
                    "PostgreSQL 12+ sets NOT NULL without scanning"
                )
        return None

    def learn(self, statement: Statement, item: Anatomy, *, revision: str) -> None:
        """Record what ``statement`` did to the schema."""
        if item.table is None:
            return
        table = short(item.table)
        if item.kind == "create_table":
            self.created.setdefault(table, revision)
            self._learn_create(statement, table, revision)
        elif item.kind == "drop_table":
            self.created.pop(table, None)
            self.not_null = {k: v for k, v in self.not_null.items() if k[0] != table}
        elif item.kind == "alter_table":
            for action in item.actions:
                self._learn_action(table, action, revision)

    def _learn_create(self, statement: Statement, table: str, revision: str) -> None:
        opening = next(
            (i for i, token in enumerate(statement.tokens) if token.value == "("), None
        )
        if opening is None:
            return
        parts: list[list[Token]] = [[]]
        for token in statement.tokens[opening + 1 :]:
            if token.depth == 0:
                break
            if token.value == "," and token.depth == 1:
                parts.append([])
            else:
                parts[-1].append(token)
        for part in parts:
            self._learn_element(table, tuple(part), revision, in_create=True)

    def _learn_element(
        self, table: str, part: tuple[Token, ...], revision: str, *, in_create: bool
    ) -> None:
        words = [token.value for token in part]
        if not words:
            return
        name: str | None = None
        if words[0] == "constraint" and len(words) > 1:
            name, words, part = words[1], words[2:], part[2:]
        if words[:1] == ["check"]:
            column = _is_not_null_check(part)
            if column is not None and name is not None:
                self.checks[name] = NotNullCheck(table, column, "valid" not in words)
            return
        if words[:2] == ["primary", "key"]:
            for token in part[2:]:
                if token.kind in (Kind.WORD, Kind.IDENT) and token.depth > 0:
                    self.not_null[(table, token.value)] = revision
            return
        if words[0] in _TABLE_LEVEL or (not in_create and name is not None):
            return
        column = words[0]
        if "primary" in words or _has_pair(words, "not", "null"):
            self.not_null[(table, column)] = revision

    def _learn_action(
        self, table: str, action: tuple[Token, ...], revision: str
    ) -> None:
        words = action_words(action, len(action))
        if words[:2] == ("rename", "to") and len(words) == 3:
            self._renamed(table, short(words[2]))
        elif words[:1] == ("add",):
            rest = action[1:]
            if words[1:2] == ("column",):
                rest = rest[1:]
            if words[1:4] == ("column", "if", "not") or words[1:3] == ("if", "not"):
                rest = rest[3:]
            self._learn_element(table, tuple(rest), revision, in_create=False)
        elif words[:2] == ("validate", "constraint") and len(words) > 2:
            check = self.checks.get(words[2])
            if check is not None:
                self.checks[words[2]] = NotNullCheck(
                    check.table, check.column, validated=True
                )
        elif words[:2] == ("drop", "constraint"):
            self.checks.pop(
                words[-1] if words[-1] not in ("cascade", "restrict") else words[-2],
                None,
            )
        else:
            column = _set_not_null(action)
            if column is not None:
                self.not_null[(table, column)] = revision
            dropped = _dropped_not_null(action)
            if dropped is not None:
                self.not_null.pop((table, dropped), None)

    def _renamed(self, old: str, new: str) -> None:
        """``ALTER TABLE old RENAME TO new``: what was known of ``old`` is ``new``'s."""
        if old in self.created:
            self.created[new] = self.created.pop(old)
        self.not_null = {
            (new if table == old else table, column): made_by
            for (table, column), made_by in self.not_null.items()
        }
        self.checks = {
            name: NotNullCheck(new, check.column, check.validated)
            if check.table == old
            else check
            for name, check in self.checks.items()
        }


def short(name: str) -> str:
    return name.rsplit(".", 1)[-1]


def _has_pair(words: list[str] | tuple[str, ...], first: str, second: str) -> bool:
    return any(
        words[index] == first and words[index + 1] == second
        for index in range(len(words) - 1)
    )


def _column_action(action: tuple[Token, ...], *tail: str) -> str | None:
    """The column of ``ALTER [COLUMN] col <tail...>``."""
    words = action_words(action, 6)
    if words[:1] != ("alter",):
        return None
    position = 2 if words[1:2] == ("column",) else 1
    if words[position + 1 : position + 1 + len(tail)] == tail and position < len(words):
        return words[position]
    return None


STABLE_DEFAULTS = frozenset(
    {"localtimestamp", "localtime", "current_date", "current_time", "current_timestamp"}
)
"""SQL's value functions a column default may use: STABLE, evaluated once by
``ADD COLUMN`` (squawk 2.70 knows ``now()`` but takes LOCALTIMESTAMP for volatile;
CKAN's revision 064 uses it)."""


def _stable_default(action: tuple[Token, ...]) -> tuple[str, str] | None:
    """(column, default) of ``ADD [COLUMN] col type ... DEFAULT <value function>``."""
    top = [token.value for token in action if token.depth == 0]
    if top[:1] != ["add"] or "default" not in top or "generated" in top:
        return None
    column = top[2] if top[1:2] == ["column"] else top[1]
    after = top.index("default") + 1
    value = top[after] if after < len(top) else ""
    if value not in STABLE_DEFAULTS or top[after + 1 : after + 2] not in (
        [],
        ["not"],
        ["null"],
    ):
        return None
    return column, value


def _set_not_null(action: tuple[Token, ...]) -> str | None:
    return _column_action(action, "set", "not", "null")


def set_not_null_column(actions: tuple[tuple[Token, ...], ...]) -> str | None:
    """The column an ALTER TABLE's ``SET NOT NULL`` action names, if it has one."""
    return next(
        (column for column in map(_set_not_null, actions) if column is not None),
        None,
    )


def _dropped_not_null(action: tuple[Token, ...]) -> str | None:
    return _column_action(action, "drop", "not", "null")


def _is_not_null_check(part: tuple[Token, ...]) -> str | None:
    """``col`` of ``CHECK (col IS NOT NULL)``, or None for any other check."""
    inside = [token for token in part if token.depth > 0]
    words = [token.value for token in inside]
    if len(words) == 4 and words[1:] == ["is", "not", "null"]:
        return words[0]
    return None
