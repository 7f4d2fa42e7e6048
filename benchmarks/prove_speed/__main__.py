"""``python -m benchmarks.prove_speed``: time both harnesses, print the figures."""

from __future__ import annotations

import argparse
import contextlib
import io
import logging
import os
import platform
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path

from alembic.config import Config
from alembic.script import ScriptDirectory

from benchmarks.prove_speed.generated import leaks, write_project
from benchmarks.prove_speed.harnesses import (
    Timing,
    time_migrationkit,
    time_pytest_alembic,
)
from migrationkit.database import mask_secrets
from migrationkit.errors import MigrationKitError
from migrationkit.prove import scratch_server
from migrationkit.prove.scratch import ScratchServer
from migrationkit.settings import Settings

REPO = Path(__file__).resolve().parents[2]


@dataclass(frozen=True, kw_only=True)
class History:
    """One history to time, and what each harness is expected to say of it."""

    label: str
    ini: Path
    revisions: int
    prove_fails: tuple[str, ...] | None = ()
    """The findings prove must report (``code revision``); None: not judged."""
    pytest_alembic_fails: tuple[str, ...] | None = ()
    models: bool = True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.prove_speed",
        description=(
            "Time migrationkit prove and pytest-alembic's four default tests, "
            "interleaved in one process, on this project's history, on a "
            "generated one that passes and on a generated one that fails (leaky "
            "downgrades), on the project's server (DATABASE_URL, else the "
            "embedded PostgreSQL), in scratch databases dropped afterwards."
        ),
    )
    parser.add_argument(
        "--revisions",
        type=int,
        default=100,
        help="revisions in each generated history (default: %(default)s; 0 skips them)",
    )
    parser.add_argument(
        "--leaky-every",
        type=int,
        default=8,
        metavar="K",
        help=(
            "in the failing history, every K-th downgrade leaves a function behind "
            "(default: %(default)s; 0 skips the failing history)"
        ),
    )
    parser.add_argument(
        "--project",
        type=Path,
        action="append",
        default=[],
        metavar="ALEMBIC_INI",
        help="also time another project's history (its outcome is shown, not judged)",
    )
    parser.add_argument(
        "--no-models",
        action="store_true",
        help="leave prove's models check out on --project histories (no metadata)",
    )
    parser.add_argument(
        "--repeat",
        type=int,
        default=1,
        help="time each history this many times, the harnesses interleaved",
    )
    args = parser.parse_args(argv)
    try:
        return run(
            revisions=args.revisions,
            leaky_every=args.leaky_every,
            projects=args.project,
            models=not args.no_models,
            repeat=args.repeat,
        )
    except MigrationKitError as exc:
        print(f"FAILED: {mask_secrets(str(exc))}", file=sys.stderr)
        return 1


def run(
    *,
    revisions: int,
    leaky_every: int = 0,
    projects: Sequence[Path] = (),
    models: bool = True,
    repeat: int = 1,
) -> int:
    settings = Settings.from_environ()
    ini = REPO / "alembic.ini"
    scratch = scratch_server(Config(str(ini)), settings=settings)
    print(
        f"prove_speed: PostgreSQL {scratch.server_version()}, {_cpu()} "
        f"({os.cpu_count()} CPUs), load average {_load()} at start; "
        f"alembic {version('alembic')}, pytest-alembic {version('pytest-alembic')}, "
        f"Python {platform.python_version()}"
    )
    ok = True
    with tempfile.TemporaryDirectory(prefix="prove-speed-") as workdir:
        work = Path(workdir)
        histories = [History(label="this project", ini=ini, revisions=_count(ini))]
        if revisions:
            histories.append(
                History(
                    label="generated",
                    ini=write_project(work / "generated", revisions=revisions),
                    revisions=revisions,
                )
            )
        if revisions and leaky_every:
            histories.append(
                History(
                    label="failing",
                    ini=write_project(
                        work / "failing", revisions=revisions, leaky_every=leaky_every
                    ),
                    revisions=revisions,
                    prove_fails=tuple(
                        f"round-trip r{n:04d}"
                        for n in range(1, revisions + 1)
                        if leaks(n, leaky_every=leaky_every)
                    ),
                )
            )
        histories += [
            History(
                label=path.resolve().parent.name,
                ini=path.resolve(),
                revisions=_count(path),
                prove_fails=None,
                pytest_alembic_fails=None,
                models=models,
            )
            for path in projects
        ]
        print(
            f"{'history':<16}{'revisions':>10}{'migrationkit prove':>22}"
            f"{'pytest-alembic':>18}   load"
        )
        for history in histories:
            for _ in range(repeat):
                ours, theirs = _quietly(history, scratch, work)
                ok = _as_expected(history, ours, theirs) and ok
                print(
                    f"{history.label:<16}{history.revisions:>10}"
                    f"{ours.seconds:>20.2f} s{theirs.seconds:>16.2f} s   {_load()}"
                )
                print(f"{'':<26}{ours.detail:>22}{theirs.detail:>30}")
    scratch.close()
    print(
        f"load average {_load()} at the end.\n"
        "migrationkit prove: one head, each revision up from its parent, up/down/up "
        "compared as full catalog snapshots, models built and compared, each "
        "revision rendered with --sql.\npytest-alembic: single head, upgrade, "
        "models vs autogenerate, up/down consistency (replay)."
    )
    return 0 if ok else 1


def _as_expected(history: History, ours: Timing, theirs: Timing) -> bool:
    """Each harness said what it should of the history (else a timing is moot)."""
    fine = True
    for name, timing, expected in (
        ("migrationkit prove", ours, history.prove_fails),
        ("pytest-alembic", theirs, history.pytest_alembic_fails),
    ):
        if expected is not None and timing.failed != expected:
            print(
                f"UNEXPECTED: {name} on {history.label}: failed "
                f"{list(timing.failed)}, expected {list(expected)}"
            )
            fine = False
    return fine


def _load() -> str:
    return " ".join(f"{figure:.1f}" for figure in os.getloadavg())


def _cpu() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return " ".join(line.split(":", 1)[1].split())
    except OSError:
        pass
    return platform.machine()


def _count(ini: Path) -> int:
    return len(list(ScriptDirectory.from_config(Config(str(ini))).walk_revisions()))


def _quietly(
    history: History, scratch: ScratchServer, work: Path
) -> tuple[Timing, Timing]:
    """Both harnesses, without Alembic's per-step log lines on the terminal."""
    logging.disable(logging.INFO)
    try:
        with contextlib.redirect_stderr(io.StringIO()):
            ours = time_migrationkit(history.ini, scratch, models=history.models)
            with contextlib.redirect_stdout(io.StringIO()):
                theirs = time_pytest_alembic(history.ini, scratch, work)
    finally:
        logging.disable(logging.NOTSET)
    return ours, theirs


if __name__ == "__main__":
    sys.exit(main())
