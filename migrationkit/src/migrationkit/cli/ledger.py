"""``migrationkit history``, ``flags`` and ``acknowledge``: the ledger for people.

Each parses its arguments, calls one function of ``migrationkit.command`` and
prints what it returns. Text that came from the database is printed with control
characters escaped, so no row can move the cursor or ring the terminal.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from datetime import UTC, datetime

from migrationkit import command
from migrationkit.errors import MigrationKitError
from migrationkit.ledger.table import LedgerEntry
from migrationkit.settings import Settings

EXIT_OK = 0

HISTORY_DESCRIPTION = """\
Show the migration ledger: one row per revision applied, reverted or stamped,
per review flag raised or acknowledged, and per edited revision accepted; when
it ran, how long it took, its lock retries, the rows its backfills changed, who
ran it (OS user, application_name, host) and from which git commit. The ledger
is written by every run of env.py's run_migrations, in the same transaction as
the version change. See docs/ledger.md.
"""

TIME_HELP = "an ISO date or time (2026-12-01, 2026-12-01T10:00, UTC unless it says)"


def add_ledger_commands(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
) -> None:
    history = commands.add_parser(
        "history",
        help="show the migration ledger: what ran, when, how long, by whom",
        description=HISTORY_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    history.add_argument("--revision", help="only the rows about this revision")
    history.add_argument("--since", type=_moment, help=f"rows written from {TIME_HELP}")
    history.add_argument(
        "--until", type=_moment, help=f"rows written up to {TIME_HELP}"
    )
    history.add_argument("--json", action="store_true", help="print JSON")
    history.set_defaults(handler=_history)

    flags = commands.add_parser(
        "flags",
        help="list the review flags nobody has acknowledged yet",
        description=(
            "List the open review flags: rows a revision could not carry over "
            "and flagged (flag_for_review). A contract revision that destroys "
            "them stops every run until the flag is acknowledged."
        ),
    )
    flags.add_argument("--json", action="store_true", help="print JSON")
    flags.set_defaults(handler=_flags)

    acknowledge = commands.add_parser(
        "acknowledge",
        help="acknowledge the open flags a contract revision destroys",
        description=(
            "Acknowledge the open review flags that REVISION (a revision declaring "
            "destroys_flagged) would destroy, after inspecting the rows: the "
            "ledger records who and when, and later runs go through REVISION. "
            "Same as running the upgrade with -x acknowledge=REVISION."
        ),
    )
    acknowledge.add_argument("revision", help="the contract revision to let through")
    acknowledge.set_defaults(handler=_acknowledge)


def _moment(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not an ISO date or time (2026-12-01T10:00)"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _history(args: argparse.Namespace, settings: Settings) -> int:
    entries = command.history(
        command.load_config(args.config),
        settings=settings,
        revision=args.revision,
        since=args.since,
        until=args.until,
    )
    if args.json:
        print(json.dumps([entry.as_json() for entry in entries], indent=2))
        return EXIT_OK
    if not entries:
        print("The ledger has no rows (yet) that match.")
        return EXIT_OK
    print(render_table(entries))
    return EXIT_OK


def _flags(args: argparse.Namespace, settings: Settings) -> int:
    entries = command.flags(command.load_config(args.config), settings=settings)
    if args.json:
        print(json.dumps([entry.as_json() for entry in entries], indent=2))
        return EXIT_OK
    if not entries:
        print("No open review flag.")
        return EXIT_OK
    for entry in entries:
        rows, what = entry.detail.get("rows"), entry.detail.get("what")
        print(
            printable(
                f"flag {entry.id}: {rows} {what}"
                f" (topic {entry.detail.get('topic')}, flagged by revision "
                f"{entry.revision} at {_when(entry.finished_at)} by {_who(entry)})"
            )
        )
        if entry.detail.get("inspect_sql"):
            print(printable(f"  list them: {entry.detail['inspect_sql']}"))
    return EXIT_OK


def _acknowledge(args: argparse.Namespace, settings: Settings) -> int:
    entry = command.acknowledge(
        command.load_config(args.config), revision=args.revision, settings=settings
    )
    if entry is None:
        raise MigrationKitError(
            f"No open review flag is destroyed by revision {args.revision}: nothing "
            "to acknowledge (`migrationkit flags` lists the open ones)."
        )
    flag_ids = ", ".join(str(flag) for flag in entry.detail.get("flags", []))
    print(
        printable(
            f"Acknowledged flag(s) {flag_ids} for revision {entry.revision}, by "
            f"{_who(entry)} at {_when(entry.finished_at)} (ledger row {entry.id})."
        )
    )
    return EXIT_OK


COLUMNS = (
    "id",
    "when (UTC)",
    "kind",
    "revision",
    "took",
    "retries",
    "rows",
    "by",
    "commit",
)


def render_table(entries: Sequence[LedgerEntry]) -> str:
    rows = [COLUMNS, *(_row(entry) for entry in entries)]
    widths = [max(len(row[i]) for row in rows) for i in range(len(COLUMNS))]
    return "\n".join(
        printable(
            "  ".join(
                cell.ljust(width) for cell, width in zip(row, widths, strict=True)
            ).rstrip()
        )
        for row in rows
    )


def _row(entry: LedgerEntry) -> tuple[str, ...]:
    commit = (entry.git_commit or "")[:12]
    if commit and entry.git_dirty:
        commit += "+dirty"
    return (
        str(entry.id),
        _when(entry.finished_at),
        entry.kind,
        entry.revision,
        f"{entry.duration_seconds:.2f}s" if entry.duration_seconds is not None else "",
        str(entry.lock_retries),
        f"{entry.rows_changed:,}" if entry.rows_changed is not None else "",
        _who(entry),
        commit,
    )


def _when(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


def _who(entry: LedgerEntry) -> str:
    who = entry.os_user or entry.database_user or "?"
    return f"{who}@{entry.host}" if entry.host else who


def printable(text: str) -> str:
    """``text`` with control characters (ESC, BEL, ...) shown escaped."""
    return "".join(
        char if char == "\n" or char.isprintable() else repr(char)[1:-1]
        for char in text
    )
