"""Render a ``VerificationReport`` for people, or as JSON for machines.

The JSON structure is stable; keys are only ever added, never renamed::

    {
      "ok": true,                 # every check passed
      "error": null,              # or a message when nothing could be verified
      "headline": null,           # or the one finding that explains the rest
      "database": {               # null only together with "error"
        "url": "postgresql://app:***@db:5432/app",   # password always masked
        "source": "DATABASE_URL",  # or "sqlalchemy.url in alembic.ini",
                                   # or "embedded PostgreSQL"
        "location": "db:5432",
        "server_version": "18.1",  # these three are null when the
        "database": "app",         # connection failed
        "user": "app"
      },
      "checks": [                 # in this order: connectivity, table_structure,
        {                         # indexes_and_constraints, model_functionality,
          "name": "revision",     # revision (only connectivity when it failed)
          "title": "revision",
          "ok": false,
          "summary": "the database is behind: ...",
          "details": ["pending: 002 (add username)"],
          "fix": "run `alembic upgrade head`",   # or null
          "skipped": false        # true: nothing was checked (never a pass)
        }
      ]
    }
"""

from __future__ import annotations

import json
from dataclasses import asdict

from migrationkit.verify.result import VerificationReport

_INDENT = "      "


def render_text(report: VerificationReport) -> str:
    """One verdict line per check, its details indented, then a summary line."""
    lines = [f"Verifying {report.database.url} (from {report.database.source})", ""]
    if report.headline:
        lines += [report.headline, ""]
    for check in report.checks:
        verdict = "SKIP" if check.skipped else "PASS" if check.ok else "FAIL"
        lines.append(f"{verdict}  {check.title}: {check.summary}")
        lines.extend(f"{_INDENT}{detail}" for detail in check.details)
        if check.fix:
            lines.append(f"{_INDENT}fix: {check.fix}")
    lines.append("")
    lines.append(summary_line(report))
    return "\n".join(lines)


def summary_line(report: VerificationReport) -> str:
    total = len(report.checks)
    skipped = report.skipped
    if report.ok and skipped:
        names = ", ".join(check.title for check in skipped)
        return (
            f"OK: {total - len(skipped)} of {total} checks passed, "
            f"{len(skipped)} skipped ({names})."
        )
    if report.ok:
        return f"OK: all {total} checks passed."
    if report.headline:
        return f"FAILED: {report.headline}"
    failed = report.failed
    names = ", ".join(check.title for check in failed)
    return f"FAILED: {len(failed)} of {total} checks failed ({names})."


def report_as_dict(report: VerificationReport) -> dict[str, object]:
    return {
        "ok": report.ok,
        "error": None,
        "headline": report.headline,
        "database": asdict(report.database),
        "checks": [
            {
                "name": check.name,
                "title": check.title,
                "ok": check.ok,
                "summary": check.summary,
                "details": list(check.details),
                "fix": check.fix,
                "skipped": check.skipped,
            }
            for check in report.checks
        ],
    }


def error_as_dict(message: str) -> dict[str, object]:
    """The JSON for a run that could not verify anything (bad URL, bad config)."""
    return {"ok": False, "error": message, "database": None, "checks": []}


def render_json(document: dict[str, object]) -> str:
    return json.dumps(document, indent=2)
