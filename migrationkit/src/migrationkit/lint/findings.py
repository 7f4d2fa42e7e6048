"""What the lint found: findings, per-revision results, the whole report."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

from migrationkit.lint.rules import Rule, Severity


@dataclass(frozen=True, kw_only=True)
class Finding:
    """One rule broken by one statement (or by the revision as a whole)."""

    rule: Rule
    severity: Severity
    message: str
    revision: str
    path: Path
    """The revision file, as the report shows it (relative to the project)."""
    line: int | None = None
    """Line of the revision file: the ``op.`` call that wrote the statement."""
    origin_lines: tuple[int, ...] = ()
    """Every line of the revision on the stack when it was written (the call,
    then the calls of the revision's helpers that led to it)."""
    call: str | None = None
    """The function called there (``execute``, ``create_index``, ``add_not_null``)."""
    statement: str | None = None
    """The SQL statement, on one line."""
    sql_line: int | None = None
    """Its line in the rendered SQL of the revision."""
    table: str | None = None
    column: str | None = None
    """The column a SET NOT NULL finding is about (live mode asks the catalog)."""
    also: tuple[str, ...] = ()
    """squawk rules that flagged the same statement for the same reason."""
    suppressed: str | None = None
    """The reason written in the revision (or pyproject.toml) when allowed."""
    table_size: str | None = None
    """Live mode: the table's size as the grading read it."""
    advice: str | None = None
    """The call that fixes it, with its arguments read from the statement."""
    table_origin: str | None = None
    """Offline: the earlier revision of the linted history that created the table."""

    @property
    def code(self) -> str:
        return self.rule.code

    @property
    def instead(self) -> str:
        """What to write instead: the concrete call when known, else the rule's."""
        return self.advice or self.rule.alternative

    @property
    def counts(self) -> bool:
        """Whether it is reported as a problem (not suppressed)."""
        return self.suppressed is None

    def graded(self, severity: Severity, *, table_size: str) -> Finding:
        return replace(self, severity=severity, table_size=table_size)


@dataclass(kw_only=True)
class RevisionResult:
    revision: str
    path: Path
    mode: str
    """``offline``, or ``live`` when the revision was followed on a database."""
    findings: list[Finding] = field(default_factory=list)
    statements: int = 0


@dataclass(kw_only=True)
class LintReport:
    revisions: list[RevisionResult] = field(default_factory=list)
    squawk: str = ""
    """squawk's version line."""
    pg_version: str | None = None
    database: str | None = None
    """Live mode: the database graded against (password masked)."""
    selection: str = "all revisions"

    @property
    def findings(self) -> list[Finding]:
        return [finding for result in self.revisions for finding in result.findings]

    def count(self, severity: Severity) -> int:
        return sum(
            1
            for finding in self.findings
            if finding.counts and finding.severity is severity
        )

    @property
    def ok(self) -> bool:
        return self.count(Severity.ERROR) == 0
