"""``migrationkit history``, ``flags`` and ``acknowledge``: the ledger for people.

Each calls one verb of ``migrationkit.command`` (``cli.spec`` builds its options
from it) and prints what it returns. Text that came from the database is printed
with control characters escaped, so no row can move the cursor or ring the
terminal.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from datetime import UTC, datetime

from migrationkit import command
from migrationkit.cli.spec import Call, Command, Flag, Param, epilog
from migrationkit.errors import MigrationKitError
from migrationkit.exits import EXIT_OK
from migrationkit.ledger.table import LedgerEntry

HISTORY_DETAILS = """\
One row per revision applied, reverted or stamped, per review flag raised or
acknowledged, and per edited revision accepted; when it ran, how long it took,
its lock retries, the rows its backfills changed, who ran it (OS user,
application_name, host) and from which git commit. The ledger is written by
every run of env.py's run_migrations, in the same transaction as the version
change. See docs/ledger.md.
"""

ACKNOWLEDGE_DETAILS = """\
After inspecting the rows: the open review flags that REVISION (a revision
declaring destroys_flagged) would destroy are acknowledged, the ledger records
who and when, and later runs go through REVISION. Same as running the upgrade
with -x acknowledge=REVISION.
"""

TIME_HELP = "an ISO date or time (2026-12-01, 2026-12-01T10:00, UTC unless it says)"

JSON = Flag(flags=("--json",), help="print JSON", options={"action": "store_true"})


def _moment(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not an ISO date or time (2026-12-01T10:00)"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _show_history(args: argparse.Namespace, call: Call) -> int:
    entries: list[LedgerEntry] = call()
    if args.json:
        print(json.dumps([entry.as_json() for entry in entries], indent=2))
        return EXIT_OK
    if not entries:
        print("The ledger has no rows (yet) that match.")
        return EXIT_OK
    print(render_table(entries))
    return EXIT_OK


def _show_flags(args: argparse.Namespace, call: Call) -> int:
    entries: list[LedgerEntry] = call()
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


def _show_acknowledge(args: argparse.Namespace, call: Call) -> int:
    entry: LedgerEntry | None = call()
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


LEDGER_COMMANDS = (
    Command(
        words=("history",),
        verb=command.history,
        show=_show_history,
        options=(
            Param(name="revision", help="only the rows about this revision"),
            Param(
                name="since",
                help=f"rows written from {TIME_HELP}",
                options={"type": _moment},
            ),
            Param(
                name="until",
                help=f"rows written up to {TIME_HELP}",
                options={"type": _moment},
            ),
            JSON,
        ),
        details=HISTORY_DETAILS,
        epilog=epilog(database=True, statuses={}),
    ),
    Command(
        words=("flags",),
        verb=command.flags,
        show=_show_flags,
        options=(JSON,),
        epilog=epilog(database=True, statuses={}),
    ),
    Command(
        words=("acknowledge",),
        verb=command.acknowledge,
        show=_show_acknowledge,
        options=(Param(name="revision", help="the contract revision to let through"),),
        details=ACKNOWLEDGE_DETAILS,
        epilog=epilog(
            database=True,
            statuses={1: "failure, including no open flag to acknowledge"},
        ),
    ),
)


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
