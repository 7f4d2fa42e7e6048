"""Verify a live database against an Alembic project: schema, validity, revision,
ledger.

``migrationkit.command.verify`` returns a ``VerificationReport`` (plain data);
``report`` renders it for people or as JSON.
"""

from migrationkit.verify.checks import ModelCheck, run_checks
from migrationkit.verify.ledger import ledger_findings
from migrationkit.verify.result import CheckResult, VerificationReport
from migrationkit.verify.revision import check_revision

__all__ = [
    "CheckResult",
    "ModelCheck",
    "VerificationReport",
    "check_revision",
    "ledger_findings",
    "run_checks",
]
