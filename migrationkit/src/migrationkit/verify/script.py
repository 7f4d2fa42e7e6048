"""``verify`` as a command: its help, its arguments and ``verify_main``.

``migrationkit verify`` and a project's own script (``verify_migration.py``) share
this, so both have the same options, report and exit codes; it imports nothing of
the rest of the command line.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from pathlib import Path

from alembic.util import CommandError

from migrationkit.database import mask_secrets
from migrationkit.exits import (
    EXIT_FAILED,
    EXIT_OK,
    alembic_chatter_hidden,
    configure_logging,
    report_failures,
)
from migrationkit.settings import Settings
from migrationkit.verify.checks import ModelCheck
from migrationkit.verify.report import (
    error_as_dict,
    render_json,
    render_text,
    report_as_dict,
)
from migrationkit.verify.result import VerificationReport

VERIFY_DETAILS = """\
Nothing is changed: inspection runs in a READ ONLY transaction, and model checks
in one that is always rolled back.

The database and the models are the ones the project's env.py gives (with
migrationkit: DATABASE_URL_DIRECT, else DATABASE_URL, else sqlalchemy.url in
alembic.ini, else the embedded PostgreSQL server in .pgdata/).

Checks, in order:
  connectivity             server version, database and user (never the password)
  table structure          every table and column of the models, with its type,
                           nullability and server default (Alembic's comparison,
                           as `alembic check` makes it); extra ones are drift too
  indexes and constraints  every index, unique constraint, primary key (name and
                           columns), foreign key and CHECK constraint; an INVALID
                           index left by a failed CREATE INDEX CONCURRENTLY fails,
                           and so does a NOT VALID constraint
  model functionality      the project's own checks of its models, if it has any
                           (verify_migration.py adds them), rolled back at the end
  revision                 the database's revision against the migration heads
"""

VERIFY_DESCRIPTION = (
    "Check a database against the project's models and its migration history.\n"
    + VERIFY_DETAILS
)
"""The help of a project's own script; `migrationkit verify` puts the summary of
``command.verify``'s docstring before the same details."""

VERIFY_EPILOG = """\
exit status:
  0  every check passed
  1  a check failed, or the database could not be reached (the message says why)
  2  bad command-line arguments
  130  interrupted (Ctrl-C)

--json prints {"ok", "error", "database": {"url" (masked), "source", "location",
"server_version", "database", "user"}, "checks": [{"name", "title", "ok",
"summary", "details", "fix"}]}.
"""


def run_verify(args: argparse.Namespace, settings: Settings) -> int:
    """Print the report of ``command.verify`` for the parsed ``args``."""
    from migrationkit import command  # noqa: PLC0415 - command imports verify

    checks: Sequence[ModelCheck] = getattr(args, "model_checks", ())
    return show_report(
        args,
        lambda: command.verify(
            command.load_config(args.config),
            settings=settings,
            model_checks=checks,
            debug=args.debug,
        ),
    )


def show_report(
    args: argparse.Namespace, verify: Callable[[], VerificationReport]
) -> int:
    """Print the report ``verify`` returns, as text or (--json) JSON; a failure
    that leaves no report is still a JSON document with --json."""
    try:
        report = verify()
    except CommandError as exc:
        if args.json and not args.debug:
            print(render_json(error_as_dict(mask_secrets(str(exc)))))
        raise
    print(render_json(report_as_dict(report)) if args.json else render_text(report))
    return EXIT_OK if report.ok else EXIT_FAILED


def add_verify_arguments(parser: argparse.ArgumentParser) -> None:
    """``verify``'s own options, and the handler that runs it."""
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.set_defaults(handler=run_verify)


def verify_main(
    *,
    model_checks: Sequence[ModelCheck],
    prog: str,
    config: Path,
    argv: Sequence[str] | None = None,
) -> int:
    """``migrationkit verify`` with a project's own model checks added.

    For a project script such as ``verify_migration.py``: same options, same
    report, same error path and exit codes as the command.
    """
    parser = argparse.ArgumentParser(
        prog=prog,
        description=VERIFY_DESCRIPTION,
        epilog=VERIFY_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "-c",
        "--config",
        default=str(config),
        help="the project's alembic.ini (default: %(default)s)",
    )
    parser.add_argument(
        "--debug", action="store_true", help="show the traceback of a failure"
    )
    parser.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        help="also show Alembic's own progress lines (hidden by default)",
    )
    add_verify_arguments(parser)
    args = parser.parse_args(argv)
    args.model_checks = tuple(model_checks)
    configure_logging()
    with alembic_chatter_hidden(hidden=not args.verbose):
        return report_failures(
            lambda: run_verify(args, Settings.from_environ()), debug=args.debug
        )
