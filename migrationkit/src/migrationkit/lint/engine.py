"""``lint_project``: render, lint and (in live mode) grade the selected revisions."""

from __future__ import annotations

import logging

from alembic.config import Config
from alembic.script import ScriptDirectory

from migrationkit.database import project_dir as project_folder
from migrationkit.lint.checks import CHECKS
from migrationkit.lint.config import LintConfig, load_lint_config
from migrationkit.lint.findings import LintReport
from migrationkit.lint.history import History
from migrationkit.lint.plugins import plugin_checks
from migrationkit.lint.render import EnvFailedError, env_failure_message, render_offline
from migrationkit.lint.review import ReviewOptions, review
from migrationkit.lint.selection import Selection, select_revisions
from migrationkit.lint.squawk import find_squawk, squawk_version
from migrationkit.settings import Settings

log = logging.getLogger(__name__)


def lint_project(
    config: Config,
    *,
    settings: Settings,
    selection: Selection | None = None,
    live: bool = False,
    database_url: str | None = None,
    pg_version: str | None = None,
    lint_config: LintConfig | None = None,
) -> LintReport:
    """Lint the selected revisions of the project ``config`` describes.

    Offline (the default) nothing connects: each revision's SQL is rendered by
    its own ``upgrade <down>:<rev> --sql``. ``live`` (or a ``database_url``)
    also reads the database: findings are graded by the real size of their
    table, squawk checks for its server version, and revisions that cannot be
    rendered offline are followed on it without changing anything.
    """
    selection = selection or Selection()
    project = project_folder(config)
    lint_config = lint_config or load_lint_config(project)
    squawk = find_squawk()
    script = ScriptDirectory.from_config(config)
    revisions = select_revisions(script, selection)
    report = LintReport(squawk=squawk_version(squawk), selection=selection.describe())
    database = None
    if live or database_url is not None:
        from migrationkit.lint.live import LiveDatabase  # noqa: PLC0415 - live only

        database = LiveDatabase.open(
            config, settings=settings, url=database_url, lint_config=lint_config
        )
    try:
        version = pg_version or lint_config.pg_version
        if database is not None:
            report.database = database.describe()
            version = pg_version or database.server_version
        report.pg_version = version
        options = ReviewOptions(
            squawk=squawk,
            project_dir=project,
            pg_version=version,
            squawk_config=lint_config.squawk_config,
            lock_timeout_seconds=settings.lock_timeout,
            disabled=lint_config.disabled,
            checks=CHECKS + plugin_checks(),
        )
        history = History()
        for revision in revisions:
            rendered = render_offline(config, revision)
            if rendered.env_failed:
                raise EnvFailedError(env_failure_message(rendered))
            if rendered.error is not None and database is not None:
                rendered = database.follow(config, revision, offline=rendered)
            result = review(rendered, options=options, history=history)
            if database is not None:
                result.findings = database.grade(result.findings)
            report.revisions.append(result)
    finally:
        if database is not None:
            database.close()
    return report
