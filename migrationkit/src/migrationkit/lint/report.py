"""The lint report as text for people, JSON for tools, GitHub annotations for CI."""

from __future__ import annotations

import json
from typing import Any

from migrationkit.lint.findings import Finding, LintReport
from migrationkit.lint.rules import NO_LOCK_TIMEOUT, Rule, Severity, all_rules
from migrationkit.ops.safety import safe_operation_names


def _where(finding: Finding) -> str:
    line = f":{finding.line}" if finding.line is not None else ""
    call = f" ({finding.call})" if finding.call else ""
    return f"{finding.path}{line}{call}"


def render_text(report: LintReport, *, show_suppressed: bool = False) -> str:
    """One paragraph per finding, then a summary line; suppressed ones on request."""
    lines: list[str] = []
    for finding in report.findings:
        if not finding.counts and not show_suppressed:
            continue
        label = finding.severity.value if finding.counts else "allowed"
        lines.append(f"{_where(finding)}: {label} {finding.code} {finding.rule.title}")
        lines.append(f"    {finding.message}")
        if finding.statement:
            lines.append(f"    sql (line {finding.sql_line}): {finding.statement}")
        if finding.table_size:
            lines.append(f"    table: {finding.table_size}")
        elif finding.table_origin:
            lines.append(f"    new table: {finding.table_origin}")
        if finding.also:
            lines.append(f"    also reported by squawk: {', '.join(finding.also)}")
        if finding.counts:
            lines.append(f"    blocks: {finding.rule.lock}")
            lines.append(f"    instead: {finding.instead}")
        else:
            lines.append(f"    allowed because: {finding.suppressed}")
        lines.append("")
    lines.append(_summary(report))
    return "\n".join(lines)


def _summary(report: LintReport) -> str:
    errors = report.count(Severity.ERROR)
    warnings = report.count(Severity.WARNING)
    notes = report.count(Severity.NOTE)
    allowed = sum(1 for finding in report.findings if not finding.counts)
    offline_only = "" if report.database else ", offline"
    target = f", graded on {report.database}" if report.database else ""
    version = f", PostgreSQL {report.pg_version}" if report.pg_version else ""
    verdict = "FAILED" if errors else "ok"
    return (
        f"migrationkit lint: {verdict}: {len(report.revisions)} revision(s) "
        f"({report.selection}{offline_only}{version}{target}), {errors} error(s), "
        f"{warnings} warning(s), {notes} note(s), {allowed} allowed by a written "
        f"reason; {report.squawk}"
    )


def finding_as_dict(finding: Finding) -> dict[str, Any]:
    return {
        "code": finding.code,
        "severity": finding.severity.value,
        "title": finding.rule.title,
        "message": finding.message,
        "revision": finding.revision,
        "path": str(finding.path),
        "line": finding.line,
        "call": finding.call,
        "statement": finding.statement,
        "sql_line": finding.sql_line,
        "table": finding.table,
        "table_size": finding.table_size,
        "table_origin": finding.table_origin,
        "also": list(finding.also),
        "suppressed": finding.suppressed,
        "lock": finding.rule.lock,
        "alternative": finding.rule.alternative,
        "instead": finding.instead,
        "source": finding.rule.source,
    }


def report_as_dict(report: LintReport) -> dict[str, Any]:
    return {
        "ok": report.ok,
        "selection": report.selection,
        "pg_version": report.pg_version,
        "database": report.database,
        "squawk": report.squawk,
        "counts": {severity.value: report.count(severity) for severity in Severity},
        "revisions": [
            {
                "revision": result.revision,
                "path": str(result.path),
                "mode": result.mode,
                "statements": result.statements,
                "findings": [finding_as_dict(f) for f in result.findings],
            }
            for result in report.revisions
        ],
    }


def render_json(report: LintReport) -> str:
    return json.dumps(report_as_dict(report), indent=2)


_GITHUB_LEVEL = {
    Severity.ERROR: "error",
    Severity.WARNING: "warning",
    Severity.NOTE: "notice",
}


def _escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


def render_github(report: LintReport) -> str:
    """GitHub Actions workflow commands: one annotation per finding, on its line."""
    lines: list[str] = []
    for finding in report.findings:
        if not finding.counts:
            continue
        properties = f"file={_escape_property(str(finding.path))}"
        if finding.line is not None:
            properties += f",line={finding.line}"
        properties += (
            f",title={_escape_property(f'{finding.code} {finding.rule.title}')}"
        )
        message = f"{finding.message}\nInstead: {finding.instead}"
        lines.append(
            f"::{_GITHUB_LEVEL[finding.severity]} {properties}::{_escape_data(message)}"
        )
    lines.append(_summary(report))
    return "\n".join(lines)


def render_rules() -> str:
    """``--rules``: every catalogued rule with its lock and its alternative, then
    the registered safe operations (plugins' included: ``all_rules`` loads them)."""
    blocks = [_rule_text(rule) for rule in all_rules()]
    blocks.append(
        "Any other squawk rule is reported under squawk's own name, as a warning."
    )
    import migrationkit.ops  # noqa: F401, PLC0415 - its operations register on import

    names = "\n".join(f"    op.{name}" for name in safe_operation_names())
    blocks.append(
        "Safe operations (what they write is the safe alternative: of the rules"
        f" above only {NO_LOCK_TIMEOUT.code}, lock_timeout, applies to it):\n{names}"
    )
    return "\n\n".join(blocks)


def _rule_text(rule: Rule) -> str:
    return (
        f"{rule.code} ({rule.source}, {rule.severity.value}): {rule.title}\n"
        f"    prevents: {rule.lock}\n"
        f"    instead:  {rule.alternative}"
    )
