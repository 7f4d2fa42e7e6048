"""``migrationkit lint``: parse the options, call ``command.lint``, print the report."""

from __future__ import annotations

import argparse

from migrationkit import command
from migrationkit.lint.report import (
    render_github,
    render_json,
    render_rules,
    render_text,
)
from migrationkit.lint.selection import Selection
from migrationkit.settings import Settings

EXIT_OK = 0
EXIT_FAILED = 1

DESCRIPTION = """\
Review the lock safety of the project's revisions before they are merged.

Each revision's SQL is rendered offline on its own (alembic upgrade <down>:<rev>
--sql, in-process, through the project's env.py), linted by squawk (its rules and
its .squawk.toml) and by the checks squawk lacks:
  MK101  UPDATE/DELETE of a whole table in one statement (not batched)
  MK102  CONCURRENTLY inside a transaction block
  MK103  a locking statement with no lock_timeout in force (knowing that
         migrationkit's run_migrations sets one for the session, and what the
         revision SETs, RESETs, or SETs LOCAL until a COMMIT)
  MK104  drop table / drop column / narrowing type change, unacknowledged
  MK105  revision that cannot be rendered offline (lint it with --live)
  MK106  DO block (dynamic SQL the linter cannot see)
  MK107  CREATE INDEX CONCURRENTLY IF NOT EXISTS (keeps an INVALID index)
  MK108  (live mode) a revision that could not be followed on the database
  MK109  a new table's foreign key to an existing table (locks it until COMMIT)
  MK000  a suppression comment without a reason or with an unknown code
Every finding names the revision file and the line of the op. call that wrote
the statement, and the call to write instead, with its arguments. `--rules`
lists every rule with the lock it prevents and the safe alternative, including
the rules of installed plugins (entry point group migrationkit.lint_rules).
Catalog-only changes (varchar widening, varchar/text, a SET NOT NULL already
proven) are not reported as rewrites or scans. An env.py that fails before any
revision runs is one error, with its cause.

Suppress one statement's finding in the revision, with a reason:
  # migrationkit-lint: allow MK104 -- nothing reads the column since 010
or a whole revision's: # migrationkit-lint: allow-revision CODE -- reason.
Settings: [tool.migrationkit.lint] in pyproject.toml (pg_version, disable,
large_table_rows, large_table_pages, squawk_config).

Live mode (--live, or --database URL) reads the database (DATABASE_URL, else
alembic.ini, else the embedded server): a finding on a table smaller than the
thresholds becomes a note, on a larger one an error; squawk checks for the
server's version; revisions that cannot be rendered offline are followed on the
database with every write recorded instead of run (read-only session).
"""

EPILOG = """\
exit status: 0 no errors, 1 errors found (or the lint could not run), 2 bad
arguments.
"""


def _lint(args: argparse.Namespace, settings: Settings) -> int:
    if args.rules:
        print(render_rules())
        return EXIT_OK
    config = command.load_config(args.config)
    if args.versions is not None:
        config.set_main_option("version_locations", args.versions.replace("%", "%%"))
    report = command.lint(
        config,
        settings=settings,
        selection=Selection(after=args.since_revision, git_ref=args.since_git),
        live=args.live,
        database_url=args.database,
        pg_version=args.pg_version,
    )
    if args.format == "json":
        print(render_json(report))
    elif args.format == "github":
        print(render_github(report))
    else:
        print(render_text(report, show_suppressed=args.show_allowed))
    return EXIT_OK if report.ok else EXIT_FAILED


def add_lint(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "lint",
        help="review the lock safety of the revisions (squawk plus more checks)",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    which = parser.add_mutually_exclusive_group()
    which.add_argument(
        "--since-revision",
        metavar="REV",
        help="lint only the revisions after REV (REV itself excluded)",
    )
    which.add_argument(
        "--since-git",
        metavar="REF",
        help="lint only revision files changed since git REF (e.g. origin/main)",
    )
    parser.add_argument(
        "--versions",
        metavar="DIR",
        help="lint the revisions in DIR instead of the project's versions folder",
    )
    parser.add_argument(
        "--live",
        action="store_true",
        help="grade findings by table size on the database (usual resolution)",
    )
    parser.add_argument(
        "--database",
        metavar="URL",
        help="the database for live mode (implies --live; password never printed)",
    )
    parser.add_argument(
        "--pg-version",
        metavar="VERSION",
        help="PostgreSQL version squawk checks for (default: pyproject, or the server)",
    )
    parser.add_argument(
        "--format",
        choices=("text", "json", "github"),
        default="text",
        help="text for people, json for tools, github for Actions annotations",
    )
    parser.add_argument(
        "--show-allowed",
        action="store_true",
        help="also list the findings a written reason allows",
    )
    parser.add_argument(
        "--rules",
        action="store_true",
        help="list every rule: code, the lock it prevents, the safe alternative",
    )
    parser.set_defaults(handler=_lint)
