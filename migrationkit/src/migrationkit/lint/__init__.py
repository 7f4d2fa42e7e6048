"""``migrationkit lint``: lock-safety review of every Alembic revision.

Each revision's SQL is rendered offline on its own, linted by squawk and by the
checks squawk lacks (whole-table UPDATE/DELETE, CONCURRENTLY in a transaction,
lock_timeout actually in force, unacknowledged destructive changes, revisions
that cannot be rendered offline), and every finding is mapped back to the line of
the revision file that wrote the statement. Live mode grades findings by the
real size of their table.
"""

from migrationkit.lint.checks import Check
from migrationkit.lint.config import LintConfig, load_lint_config
from migrationkit.lint.engine import lint_project
from migrationkit.lint.findings import Finding, LintReport, RevisionResult
from migrationkit.lint.rules import Rule, Severity, all_rules
from migrationkit.lint.selection import Selection
from migrationkit.lint.walk import Step

__all__ = [
    "Check",
    "Finding",
    "LintConfig",
    "LintReport",
    "RevisionResult",
    "Rule",
    "Selection",
    "Severity",
    "Step",
    "all_rules",
    "lint_project",
    "load_lint_config",
]
