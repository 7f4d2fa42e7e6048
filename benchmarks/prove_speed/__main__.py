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
from importlib.metadata import version
from pathlib import Path

from alembic.config import Config
from alembic.script import ScriptDirectory

from benchmarks.prove_speed.generated import write_project
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.prove_speed",
        description=(
            "Time migrationkit prove and pytest-alembic's four default tests on "
            "this project's history and on a generated one, on the project's "
            "server (DATABASE_URL, else the embedded PostgreSQL), in scratch "
            "databases dropped afterwards."
        ),
    )
    parser.add_argument(
        "--revisions",
        type=int,
        default=100,
        help="revisions in the generated history (default: %(default)s; 0 skips it)",
    )
    args = parser.parse_args(argv)
    try:
        return run(revisions=args.revisions)
    except MigrationKitError as exc:
        print(f"FAILED: {mask_secrets(str(exc))}", file=sys.stderr)
        return 1


def run(*, revisions: int) -> int:
    settings = Settings.from_environ()
    ini = REPO / "alembic.ini"
    scratch = scratch_server(Config(str(ini)), settings=settings)
    print(
        f"prove_speed: PostgreSQL {scratch.server_version()}, {_cpu()} "
        f"({os.cpu_count()} CPUs), load average {os.getloadavg()[0]:.1f} at start; "
        f"alembic {version('alembic')}, pytest-alembic {version('pytest-alembic')}, "
        f"Python {platform.python_version()}"
    )
    histories = [("this project", ini, _count(ini))]
    ok = True
    with tempfile.TemporaryDirectory(prefix="prove-speed-") as workdir:
        work = Path(workdir)
        if revisions:
            generated = write_project(work / "generated", revisions=revisions)
            histories.append(("generated", generated, revisions))
        print(
            f"{'history':<14}{'revisions':>10}{'migrationkit prove':>22}"
            f"{'pytest-alembic':>18}"
        )
        for label, path, count in histories:
            ours, theirs = _quietly(path, scratch, work)
            ok = ok and ours.ok and theirs.ok
            print(
                f"{label:<14}{count:>10}{ours.seconds:>20.2f} s"
                f"{theirs.seconds:>16.2f} s"
            )
            print(f"{'':<24}{ours.detail:>22}{theirs.detail:>30}")
    scratch.close()
    print(
        "migrationkit prove: one head, each revision up from its parent, up/down/up "
        "compared as full catalog snapshots, models built and compared, each "
        "revision rendered with --sql.\npytest-alembic: single head, upgrade, "
        "models vs autogenerate, up/down consistency (replay)."
    )
    return 0 if ok else 1


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


def _quietly(ini: Path, scratch: object, work: Path) -> tuple[Timing, Timing]:
    """Both harnesses, without Alembic's per-step log lines on the terminal."""

    assert isinstance(scratch, ScratchServer)
    logging.disable(logging.INFO)
    try:
        with contextlib.redirect_stderr(io.StringIO()):
            ours = time_migrationkit(ini, scratch)
            with contextlib.redirect_stdout(io.StringIO()):
                theirs = time_pytest_alembic(ini, scratch, work)
    finally:
        logging.disable(logging.NOTSET)
    return ours, theirs


if __name__ == "__main__":
    sys.exit(main())
