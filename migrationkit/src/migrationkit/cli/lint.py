"""``migrationkit lint``: its options, and how its report is printed."""

from __future__ import annotations

import argparse

from migrationkit import command
from migrationkit.cli.spec import Call, Command, Flag, Param, epilog
from migrationkit.exits import EXIT_FAILED, EXIT_OK
from migrationkit.lint.report import (
    render_github,
    render_json,
    render_rules,
    render_text,
)

DETAILS = """\
Run it before a revision is merged. Each revision's SQL is rendered offline on
its own (alembic upgrade <down>:<rev> --sql, in-process, through the project's
env.py), linted by squawk (its rules and its .squawk.toml) and by the checks
squawk lacks:
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

Live mode (--live, or --database URL) reads the database (below: the one every
command uses): a finding on a table smaller than the
thresholds becomes a note, on a larger one an error; squawk checks for the
server's version; revisions that cannot be rendered offline are followed on the
database with every write recorded instead of run (read-only session).
"""


def _show(args: argparse.Namespace, call: Call) -> int:
    if args.rules:
        print(render_rules())
        return EXIT_OK
    report = call()
    if args.format == "json":
        print(render_json(report))
    elif args.format == "github":
        print(render_github(report))
    else:
        print(render_text(report, show_suppressed=args.show_allowed))
    return EXIT_OK if report.ok else EXIT_FAILED


LINT = Command(
    words=("lint",),
    verb=command.lint,
    show=_show,
    options=(
        Param(
            name="since_revision",
            help="lint only the revisions after REV (REV itself excluded)",
            options={"metavar": "REV"},
            group="which",
        ),
        Param(
            name="since_git",
            help="lint only revision files changed since git REF (e.g. origin/main)",
            options={"metavar": "REF"},
            group="which",
        ),
        Param(
            name="versions",
            help="lint the revisions in DIR instead of the project's versions folder",
            options={"metavar": "DIR"},
        ),
        Param(
            name="live",
            help="grade findings by table size on the database (usual resolution)",
        ),
        Param(
            name="database_url",
            flags=("--database",),
            help="the database for live mode (implies --live; password never printed)",
            options={"metavar": "URL"},
        ),
        Param(
            name="pg_version",
            help="PostgreSQL version squawk checks for (default: pyproject, or the "
            "server)",
            options={"metavar": "VERSION"},
        ),
        Flag(
            flags=("--format",),
            help="text for people, json for tools, github for Actions annotations",
            options={"choices": ("text", "json", "github"), "default": "text"},
        ),
        Flag(
            flags=("--show-allowed",),
            help="also list the findings a written reason allows",
            options={"action": "store_true"},
        ),
        Flag(
            flags=("--rules",),
            help="list every rule: code, the lock it prevents, the safe alternative",
            options={"action": "store_true"},
        ),
    ),
    details=DETAILS,
    epilog=epilog(
        database=True,
        statuses={0: "no errors", 1: "errors found (or the lint could not run)"},
    ),
)
