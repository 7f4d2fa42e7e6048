"""Every rule ``migrationkit lint`` reports, as data: code, title, lock, alternative.

Two families share one shape. migrationkit's own rules (codes ``MK...``) are the
checks squawk lacks. squawk's rules keep squawk's names as their codes (so a
suppression or a squawk configuration means the same thing in both tools); the
entries below add what a reviewer needs next to squawk's message: the lock the
rule protects against and the safe alternative, in migrationkit's terms. A squawk
rule missing from this table is still reported, with squawk's own help text.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Severity(StrEnum):
    ERROR = "error"
    """Fails the lint (exit status 1)."""
    WARNING = "warning"
    NOTE = "note"

    @property
    def rank(self) -> int:
        return {"error": 2, "warning": 1, "note": 0}[self.value]


@dataclass(frozen=True, kw_only=True)
class Rule:
    code: str
    title: str
    lock: str
    """The lock (or the harm) the rule keeps away from a busy table."""
    alternative: str
    """What to write instead."""
    severity: Severity = Severity.ERROR
    scales_with_table: bool = False
    """Harm grows with the table's size: live mode makes it a note on a small one."""
    source: str = "migrationkit"
    """``migrationkit`` or ``squawk``."""
    also_reported_by: tuple[str, ...] = ()
    """squawk rules that flag the same statement for the same reason: folded into
    this rule's finding (and suppressed with it) so one problem is one finding."""


# ------------------------------------------------------------ migrationkit's

INVALID_SUPPRESSION = Rule(
    code="MK000",
    title="suppression comment without a reason or with an unknown rule code",
    lock="none: a suppression must say why, or a later reader cannot judge it",
    alternative=(
        "# migrationkit-lint: allow <CODE> -- <why this is safe here>, with a "
        "code listed by `migrationkit lint --rules`"
    ),
)
UNBATCHED_UPDATE = Rule(
    code="MK101",
    title="UPDATE or DELETE of a whole table in one statement (not batched)",
    lock=(
        "row locks on every matched row until the transaction commits: concurrent "
        "writes to those rows wait for the whole statement; one long transaction "
        "also holds back VACUUM and replicas"
    ),
    alternative=(
        "migrationkit.ops.backfill_in_batches(table=..., set_sql=..., "
        "pending_sql=...): keyset batches, each committed on its own, resumable"
    ),
    scales_with_table=True,
)
CONCURRENTLY_IN_TRANSACTION = Rule(
    code="MK102",
    title="CONCURRENTLY inside a transaction block",
    lock=(
        "none taken: PostgreSQL refuses CREATE/DROP INDEX CONCURRENTLY, REINDEX "
        "CONCURRENTLY and DETACH PARTITION CONCURRENTLY in a transaction, so the "
        "migration fails in production after passing review"
    ),
    alternative=(
        "migrationkit.ops.create_index_concurrently / drop_index_concurrently, or "
        "the statement inside `with op.get_context().autocommit_block():`"
    ),
    also_reported_by=("ban-concurrent-index-creation-in-transaction",),
)
NO_LOCK_TIMEOUT = Rule(
    code="MK103",
    title="statement waits for a table lock with no lock_timeout in force",
    lock=(
        "the lock queue: a DDL statement waiting behind one long transaction "
        "makes every later query on the table (even SELECT) wait behind it"
    ),
    alternative=(
        "call migrationkit's run_migrations in env.py (lock_timeout for the whole "
        "session, with retry), and never SET lock_timeout = 0 or RESET it in a "
        "revision; a SET LOCAL lasts only until the next COMMIT"
    ),
    also_reported_by=("require-lock-timeout",),
)
DESTRUCTIVE = Rule(
    code="MK104",
    title="destructive change (drop table, drop column, narrowing type change) "
    "without an acknowledgement",
    lock=(
        "data: the dropped or narrowed values cannot be brought back by a "
        "downgrade, and application code still reading them breaks"
    ),
    alternative=(
        "expand/contract: stop using the column or table in a deployed release "
        "first, then acknowledge the drop in the revision with "
        "# migrationkit-lint: allow MK104 -- <why nothing needs it any more>"
    ),
    also_reported_by=("ban-drop-column", "ban-drop-table"),
)
NOT_LINTABLE_OFFLINE = Rule(
    code="MK105",
    title="revision cannot be rendered as SQL offline",
    lock=(
        "unknown: work done in Python with op.get_bind() (or SQL built from query "
        "results) is invisible to a SQL linter, so no finding is not the same as safe"
    ),
    alternative=(
        "render the SQL through op.* calls and guard live-only reads with "
        "`if not context.is_offline_mode():`; or lint it in live mode "
        "(`migrationkit lint --live`)"
    ),
)
OPAQUE_SQL = Rule(
    code="MK106",
    title="DO block: dynamic SQL the linter cannot see into",
    lock="unknown: the statements a DO block runs are not parsed",
    alternative=(
        "write the statements out as op.execute()/op.* calls, or allow it with "
        "the reason its statements are safe"
    ),
)
INVALID_INDEX_KEPT = Rule(
    code="MK107",
    title="CREATE INDEX CONCURRENTLY IF NOT EXISTS keeps an INVALID index",
    lock=(
        "none while building, but a build that failed earlier leaves an INVALID "
        "index that IF NOT EXISTS keeps: queries never use it, every write still "
        "maintains it, and a UNIQUE one is not enforced"
    ),
    alternative=(
        "migrationkit.ops.create_index_concurrently: it drops an INVALID leftover "
        "and builds again"
    ),
)
NOT_LINTABLE_LIVE = Rule(
    code="MK108",
    title="revision could not be followed in live mode",
    lock="unknown: see the message; no statement after the failure was linted",
    alternative=(
        "make the revision's Python code independent of the results of its own "
        "writes, or lint it against a scratch copy of the database"
    ),
)
FOREIGN_KEY_IN_CREATE_TABLE = Rule(
    code="MK109",
    title="new table declares a foreign key to an existing table",
    lock=(
        "SHARE ROW EXCLUSIVE on the referenced table (no INSERT/UPDATE/DELETE) "
        "from the CREATE TABLE until the revision's transaction commits"
    ),
    alternative=(
        "create the table without the foreign key, then "
        "migrationkit.ops.add_foreign_key_not_valid (as revision 006 does)"
    ),
    also_reported_by=("adding-foreign-key-constraint",),
)

MIGRATIONKIT_RULES = (
    INVALID_SUPPRESSION,
    UNBATCHED_UPDATE,
    CONCURRENTLY_IN_TRANSACTION,
    NO_LOCK_TIMEOUT,
    DESTRUCTIVE,
    NOT_LINTABLE_OFFLINE,
    OPAQUE_SQL,
    INVALID_INDEX_KEPT,
    NOT_LINTABLE_LIVE,
    FOREIGN_KEY_IN_CREATE_TABLE,
)


# ------------------------------------------------------------------ squawk's


def _squawk(
    code: str,
    *,
    title: str,
    lock: str,
    alternative: str,
    severity: Severity = Severity.ERROR,
    scales_with_table: bool = True,
    also_reported_by: tuple[str, ...] = (),
) -> Rule:
    return Rule(
        code=code,
        title=title,
        lock=lock,
        alternative=alternative,
        severity=severity,
        scales_with_table=scales_with_table,
        source="squawk",
        also_reported_by=also_reported_by,
    )


_NOT_VALID = ("constraint-missing-not-valid",)
"""squawk adds it to every constraint it flags; NOT VALID exists only for CHECK
and FOREIGN KEY, so on the others it is folded into the rule that applies."""


_WRITES_BLOCKED = "SHARE (blocks INSERT/UPDATE/DELETE) for the whole index build"
_ALL_BLOCKED = "ACCESS EXCLUSIVE (blocks reads and writes)"

SQUAWK_RULES = (
    _squawk(
        "require-concurrent-index-creation",
        title="CREATE INDEX without CONCURRENTLY on an existing table",
        lock=_WRITES_BLOCKED,
        alternative="migrationkit.ops.create_index_concurrently",
    ),
    _squawk(
        "require-concurrent-index-deletion",
        title="DROP INDEX without CONCURRENTLY",
        lock=f"{_ALL_BLOCKED} while it waits in the lock queue",
        alternative="migrationkit.ops.drop_index_concurrently",
    ),
    _squawk(
        "constraint-missing-not-valid",
        title="constraint added without NOT VALID checks every row under lock",
        lock=(
            f"{_ALL_BLOCKED} (CHECK) or SHARE ROW EXCLUSIVE (FOREIGN KEY) during "
            "the scan of every row"
        ),
        alternative=(
            "ADD CONSTRAINT ... NOT VALID, then migrationkit.ops.validate_constraint "
            "(or add_foreign_key_not_valid / add_not_null)"
        ),
    ),
    _squawk(
        "adding-foreign-key-constraint",
        title="foreign key added in one step",
        lock=(
            "SHARE ROW EXCLUSIVE on both tables (no writes) while every row is checked"
        ),
        alternative="migrationkit.ops.add_foreign_key_not_valid",
        also_reported_by=_NOT_VALID,
    ),
    _squawk(
        "disallowed-unique-constraint",
        title="UNIQUE constraint that builds its own index",
        lock=f"{_ALL_BLOCKED} for the whole index build",
        alternative="migrationkit.ops.add_unique_constraint_using_index",
        also_reported_by=_NOT_VALID,
    ),
    _squawk(
        "adding-not-nullable-field",
        title="SET NOT NULL scans the table",
        lock=f"{_ALL_BLOCKED} while every row is checked",
        alternative=(
            "migrationkit.ops.add_not_null (a validated CHECK first, no locked scan)"
        ),
    ),
    _squawk(
        "adding-required-field",
        title="NOT NULL column without a default",
        lock="none: the statement fails on a table that has rows",
        alternative=(
            "migrationkit.ops.add_not_null_column (add, backfill, then NOT NULL)"
        ),
    ),
    _squawk(
        "adding-field-with-default",
        title="column default that rewrites the table (volatile or generated)",
        lock=f"{_ALL_BLOCKED} for a rewrite of every row",
        alternative=(
            "add the column without a default, set the default for new rows, "
            "backfill with migrationkit.ops.backfill_in_batches"
        ),
    ),
    _squawk(
        "changing-column-type",
        title="ALTER COLUMN TYPE rewrites the table",
        lock=f"{_ALL_BLOCKED} for a rewrite of every row and every index",
        alternative=(
            "expand/contract: new column, trigger, backfill_in_batches, switch "
            "names, drop the old one (this project's revisions 008-011)"
        ),
    ),
    _squawk(
        "adding-serial-primary-key-field",
        title="primary key that builds its index under lock",
        lock=f"{_ALL_BLOCKED} for the whole index build",
        alternative=(
            "create_index_concurrently(..., unique=True), then ADD CONSTRAINT ... "
            "PRIMARY KEY USING INDEX"
        ),
        also_reported_by=_NOT_VALID,
    ),
    _squawk(
        "ban-concurrent-index-creation-in-transaction",
        title="CREATE INDEX CONCURRENTLY inside a transaction",
        lock="none: PostgreSQL refuses the statement",
        alternative="migrationkit.ops.create_index_concurrently (autocommit block)",
        scales_with_table=False,
    ),
    _squawk(
        "require-lock-timeout",
        title="no lock_timeout before a locking statement",
        lock="the lock queue behind a long transaction",
        alternative="run_migrations in env.py (migrationkit replaces this rule: MK103)",
        scales_with_table=False,
    ),
    _squawk(
        "require-statement-timeout",
        title="no statement_timeout before a slow statement",
        lock="a slow statement holding its lock without bound",
        alternative=(
            "MIGRATIONKIT_STATEMENT_TIMEOUT / -x statement_timeout= for the "
            "session (run_migrations sets it)"
        ),
        severity=Severity.WARNING,
        scales_with_table=False,
    ),
    _squawk(
        "ban-drop-column",
        title="DROP COLUMN",
        lock="data, and clients still reading the column",
        alternative="acknowledge with MK104 once no release reads it",
        severity=Severity.WARNING,
        scales_with_table=False,
    ),
    _squawk(
        "ban-drop-table",
        title="DROP TABLE",
        lock="data, and clients still reading the table",
        alternative="acknowledge with MK104 once no release reads it",
        severity=Severity.WARNING,
        scales_with_table=False,
    ),
    _squawk(
        "renaming-column",
        title="RENAME COLUMN breaks clients using the old name",
        lock="compatibility: the running release still uses the old name",
        alternative="expand/contract: add the new column, switch readers, drop the old",
        severity=Severity.WARNING,
        scales_with_table=False,
    ),
    _squawk(
        "renaming-table",
        title="RENAME TABLE breaks clients using the old name",
        lock="compatibility: the running release still uses the old name",
        alternative="a view with the old name during the switch, or expand/contract",
        severity=Severity.WARNING,
        scales_with_table=False,
    ),
    _squawk(
        "prefer-robust-stmts",
        title="statement that cannot be rerun after a partial failure",
        lock="none; a rerun after a failure part-way stops at this statement",
        alternative="IF [NOT] EXISTS, or migrationkit's idempotent safe operations",
        severity=Severity.WARNING,
        scales_with_table=False,
    ),
)

_BY_CODE = {rule.code: rule for rule in (*MIGRATIONKIT_RULES, *SQUAWK_RULES)}


def _known() -> dict[str, Rule]:
    """migrationkit's and squawk's rules, and those of installed lint plugins."""
    from migrationkit.lint.plugins import plugin_checks  # noqa: PLC0415 - plugins import the checks, which import this module

    return _BY_CODE | {check.rule.code: check.rule for check in plugin_checks()}


def rule_for(code: str, *, help_text: str | None = None) -> Rule:
    """The rule of ``code``; an uncatalogued squawk rule gets squawk's own help."""
    known = _BY_CODE.get(code)
    if known is not None:
        return known
    return Rule(
        code=code,
        title=code.replace("-", " "),
        lock="see squawk's documentation of this rule",
        alternative=help_text or "see squawk's documentation of this rule",
        severity=Severity.WARNING,
        source="squawk",
    )


def is_known(code: str) -> bool:
    """Whether ``code`` names a catalogued rule or looks like a squawk rule name."""
    if code in _BY_CODE or (code.islower() and "-" in code and " " not in code):
        return True
    return code in _known()


def all_rules() -> tuple[Rule, ...]:
    """Every rule ``lint --rules`` lists: migrationkit's, squawk's, the plugins'."""
    builtin = (*MIGRATIONKIT_RULES, *SQUAWK_RULES)
    return builtin + tuple(
        rule for code, rule in _known().items() if code not in _BY_CODE
    )
