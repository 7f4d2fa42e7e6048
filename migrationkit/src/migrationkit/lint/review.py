"""Lint one rendered revision: squawk's findings and the extra checks, mapped back.

squawk sees the revision's SQL; its findings (lines of that SQL) are mapped to the
statement they fall in, and through the statement's origin to the line of the
revision file that wrote it. What squawk cannot know is applied here:

* statements Alembic writes for itself (the version table) are not the
  revision's, and statements of migrationkit's safe operations are the safe
  alternative: squawk's findings on either are dropped;
* a rule that scales with the table (plain index, constraint scan) does not apply
  to a table created earlier in the same revision;
* ``require-lock-timeout`` is replaced by MK103, which knows what env.py sets for
  the session; ``require-statement-timeout`` too when env.py runs
  migrationkit's run_migrations (it sets statement_timeout for the session);
* squawk's finding of the same problem as one of migrationkit's rules on the same
  statement is folded into it, so one problem is one finding, suppressed once.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, replace
from pathlib import Path

from migrationkit.lint import rules
from migrationkit.lint.advice import advice_for
from migrationkit.lint.checks import CHECKS, Check, Hit, run_checks
from migrationkit.lint.findings import Finding, RevisionResult
from migrationkit.lint.history import History, set_not_null_column
from migrationkit.lint.render import RenderedRevision
from migrationkit.lint.squawk import SquawkFinding, run_squawk
from migrationkit.lint.suppress import Suppressions, read_suppressions
from migrationkit.lint.walk import Step, session_lock_timeout, walk

ABOUT_EXISTING_TABLES = frozenset(
    {"ban-drop-table", "ban-drop-column", "renaming-column", "renaming-table"}
)
"""squawk rules about a table other sessions use: moot on one this revision made."""
MOOT_WHEN_CATALOG_ONLY = frozenset(
    {
        "changing-column-type",
        "prefer-text-field",
        "adding-not-nullable-field",
        "adding-field-with-default",
    }
)
"""squawk rules about a rewrite or a scan: moot on a catalog-only statement."""
SUPERSEDED_ALWAYS = frozenset({"require-lock-timeout"})
SUPERSEDED_WITH_RUN_MIGRATIONS = frozenset({"require-statement-timeout"})
_STATEMENT_SHOWN = 160


@dataclass(frozen=True, kw_only=True)
class ReviewOptions:
    squawk: Path
    project_dir: Path
    pg_version: str | None
    squawk_config: Path | None
    lock_timeout_seconds: float
    """What run_migrations sets for the session (MIGRATIONKIT_LOCK_TIMEOUT)."""
    disabled: dict[str, str]
    checks: tuple[Check, ...] = CHECKS
    """migrationkit's checks, and those of installed lint plugins."""


def review(
    rendered: RenderedRevision,
    *,
    options: ReviewOptions,
    history: History | None = None,
) -> RevisionResult:
    """Every finding on one revision, suppressions applied.

    ``history`` carries what the revisions reviewed before did (tables created,
    columns made NOT NULL) into this one, and learns from it.
    """
    display = _display_path(rendered.path, options.project_dir)
    session = session_lock_timeout(
        rendered, configured_seconds=options.lock_timeout_seconds
    )
    steps = walk(rendered, session=session, history=history)
    hits = run_checks(steps, checks=options.checks)
    result = RevisionResult(
        revision=rendered.script.revision,
        path=display,
        mode=rendered.mode,
        statements=sum(1 for step in steps if step.origin.from_revision),
    )
    squawk_findings = (
        run_squawk(
            rendered.sql,
            executable=options.squawk,
            project_dir=options.project_dir,
            display_path=str(display.with_suffix(".sql")),
            pg_version=options.pg_version,
            config_file=options.squawk_config,
        )
        if rendered.sql.strip()
        else []
    )
    also = _fold(hits, steps, squawk_findings)
    superseded = SUPERSEDED_ALWAYS | (
        SUPERSEDED_WITH_RUN_MIGRATIONS if rendered.uses_run_migrations else frozenset()
    )
    seen: set[tuple[str, int]] = set()
    on_step: dict[int, set[str]] = {}
    for found in squawk_findings:
        step = _step_at(steps, found.line)
        if step is not None and _squawk_applies(found, step, superseded):
            on_step.setdefault(step.index, set()).add(found.rule)
    for found in squawk_findings:
        step = _step_at(steps, found.line)
        if step is None or not _squawk_applies(found, step, superseded):
            continue
        others = on_step.get(step.index, set()) - {found.rule}
        if any(
            found.rule in rules.rule_for(other).also_reported_by for other in others
        ):
            continue  # folded into the other squawk rule's finding
        if any(
            found.rule in codes
            for (index, _), codes in also.items()
            if index == step.index
        ):
            continue
        if (found.rule, step.index) in seen:
            continue
        seen.add((found.rule, step.index))
        rule = rules.rule_for(found.rule, help_text=found.help)
        message = found.message + (f" ({found.help})" if found.help else "")
        finding = _finding(rule, step, message, rendered, display)
        folded_here = tuple(sorted(others & set(rule.also_reported_by)))
        result.findings.append(replace(finding, also=folded_here))
    for hit in hits:
        folded = tuple(sorted(also.get((hit.step.index, hit.rule.code), set())))
        finding = _finding(hit.rule, hit.step, hit.message, rendered, display)
        result.findings.append(replace(finding, also=folded))
    if rendered.error is not None:
        rule = (
            rules.NOT_LINTABLE_LIVE
            if rendered.mode == "live"
            else rules.NOT_LINTABLE_OFFLINE
        )
        result.findings.append(
            Finding(
                rule=rule,
                severity=rule.severity,
                message=_render_error_message(rendered),
                revision=rendered.script.revision,
                path=display,
                line=rendered.error_line,
            )
        )
    suppressions = read_suppressions(rendered.path)
    result.findings = _apply_suppressions(
        result.findings, suppressions, rendered, display, options.disabled
    )
    result.findings.sort(key=lambda finding: (finding.line or 0, finding.code))
    return result


def _display_path(path: Path, project_dir: Path) -> Path:
    try:
        return path.resolve().relative_to(project_dir.resolve())
    except ValueError:
        return path


def _step_at(steps: list[Step], line: int) -> Step | None:
    """The statement holding 0-based ``line`` of the rendered SQL."""
    starts = [step.sql_line - 1 for step in steps]
    position = bisect.bisect_right(starts, line) - 1
    return steps[position] if position >= 0 else None


def _squawk_applies(
    found: SquawkFinding, step: Step, superseded: frozenset[str]
) -> bool:
    if not step.origin.from_revision or step.origin.safe_operation is not None:
        return False
    if found.rule in superseded:
        return False
    if step.catalog_only is not None and found.rule in MOOT_WHEN_CATALOG_ONLY:
        return False
    rule = rules.rule_for(found.rule)
    about_existing = rule.scales_with_table or rule.code in ABOUT_EXISTING_TABLES
    return not (about_existing and step.is_new_table(step.anatomy.table))


def _fold(
    hits: list[Hit], steps: list[Step], found: list[SquawkFinding]
) -> dict[tuple[int, str], set[str]]:
    """(statement, our rule) -> squawk rules reporting the same problem there."""
    folded: dict[tuple[int, str], set[str]] = {}
    for hit in hits:
        folded.setdefault((hit.step.index, hit.rule.code), set())
    for item in found:
        step = _step_at(steps, item.line)
        if step is None:
            continue
        for hit in hits:
            if hit.step.index == step.index and item.rule in hit.rule.also_reported_by:
                folded[(step.index, hit.rule.code)].add(item.rule)
    return folded


def _finding(
    rule: rules.Rule,
    step: Step,
    message: str,
    rendered: RenderedRevision,
    display: Path,
) -> Finding:
    text = " ".join(step.statement.text.split())
    if len(text) > _STATEMENT_SHOWN:
        text = text[: _STATEMENT_SHOWN - 3] + "..."
    table = step.anatomy.table
    return Finding(
        rule=rule,
        severity=rule.severity,
        message=message,
        revision=rendered.script.revision,
        path=display,
        line=step.origin.line,
        origin_lines=step.origin.lines,
        call=step.origin.safe_operation or step.origin.call,
        statement=text,
        sql_line=step.sql_line,
        table=table,
        column=set_not_null_column(step.anatomy.actions),
        advice=advice_for(rule, step),
        table_origin=(
            f"{table} is created by revision {step.created_by}, earlier in the "
            "linted history: harmless if that revision is not deployed yet, a "
            "real hazard once the table holds rows"
            if step.created_by is not None and rule.scales_with_table
            else None
        ),
    )


def _render_error_message(rendered: RenderedRevision) -> str:
    if rendered.mode == "live":
        return (
            f"following the revision on the database stopped: {rendered.error}. "
            "Statements after this point were not linted."
        )
    return (
        f"rendering its SQL offline failed ({rendered.error}): it does work the "
        "--sql mode cannot show (op.get_bind() queries, SQL built from their "
        "results). Statements after this point were not linted; lint it in live "
        "mode: migrationkit lint --live"
    )


def _apply_suppressions(
    findings: list[Finding],
    suppressions: Suppressions,
    rendered: RenderedRevision,
    display: Path,
    disabled: dict[str, str],
) -> list[Finding]:
    kept: list[Finding] = []
    for finding in findings:
        lines = finding.origin_lines or ((finding.line,) if finding.line else ())
        reason = disabled.get(finding.code) or suppressions.reason_for(
            finding.code, lines
        )
        kept.append(replace(finding, suppressed=reason) if reason else finding)
    for problem in suppressions.problems:
        kept.append(
            Finding(
                rule=rules.INVALID_SUPPRESSION,
                severity=rules.INVALID_SUPPRESSION.severity,
                message=f"suppression comment {problem.problem}",
                revision=rendered.script.revision,
                path=display,
                line=problem.line,
            )
        )
    return kept
