"""Apply revisions one at a time in a child process, and time each one.

Why a child process: the project's ``env.py`` reads ``DATABASE_URL`` (and the
lock-timeout guards) from the environment and configures logging from
alembic.ini. Giving it a process of its own, with the scratch database in its
environment, runs the real ``env.py`` unchanged and keeps Alembic's logging out of
the benchmark's output. Why one long-lived child per history rather than one per
revision: the interpreter start-up then stays out of the measured time.

Protocol: the parent writes one JSON request per line on stdin
(``{"command": "upgrade", "target": "004"}`` or ``{"command": "check"}``); the
child answers one JSON line per request on its original stdout, and everything
else the migrations print goes to stderr (a log file chosen by the parent).

Timing: ``started`` is when Alembic announces the migration ("Running upgrade
...", logged just before the revision's transaction begins; the first such line
when the lock guard retries), falling back to the start of the command, so the
figure is the migration itself, not loading scripts or connecting.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import IO, Any

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory

from migrationkit.errors import MigrationKitError
from migrationkit.runtime.review import DESTROYS_FLAGGED

_ANNOUNCER = "alembic.runtime.migration"


class _MigrationStartClock(logging.Filter):
    """Remembers when Alembic first announced a migration in this request.

    A filter on the announcing logger, not a handler: env.py's ``fileConfig``
    empties the handlers of Alembic's loggers on every command, but leaves their
    filters alone. It lets every record through.
    """

    def __init__(self) -> None:
        super().__init__()
        self.first: float | None = None

    def filter(self, record: logging.LogRecord) -> bool:
        if self.first is None and record.getMessage().startswith("Running upgrade"):
            self.first = time.monotonic()
        return True


def _config(*, ini: str, versions: str | None, x_args: list[str]) -> Config:
    config = Config(ini, cmd_opts=argparse.Namespace(x=x_args))
    if versions is not None:
        # The naive history: the project's env.py, another folder of revisions.
        config.set_main_option("version_locations", versions.replace("%", "%%"))
    # The scratch data holds addresses no revision can convert, on purpose: the
    # review flag they raise is acknowledged here (a benchmark measures locks,
    # not the review), or the contract step would stop every run.
    contracts = [
        script.revision
        for script in ScriptDirectory.from_config(config).walk_revisions()
        if getattr(script.module, DESTROYS_FLAGGED, None)
    ]
    if contracts and not any(x.startswith("acknowledge=") for x in x_args):
        config.cmd_opts = argparse.Namespace(
            x=[*x_args, f"acknowledge={','.join(contracts)}"]
        )
    return config


def _serve(config: Config, replies: IO[str]) -> None:
    clock = _MigrationStartClock()
    logging.getLogger(_ANNOUNCER).addFilter(clock)
    for line in sys.stdin:
        request = json.loads(line)
        clock.first = None
        reply: dict[str, Any] = {"error": None}
        began = time.monotonic()
        try:
            if request["command"] == "upgrade":
                command.upgrade(config, request["target"])
            elif request["command"] == "check":
                command.check(config)
            else:
                reply["error"] = f"unknown request {request!r}"
        except Exception as exc:  # noqa: BLE001 - every failure goes to the parent
            reply["error"] = f"{type(exc).__name__}: {exc}"
        ended = time.monotonic()
        reply.update(
            command_started=began,
            started=clock.first if clock.first is not None else began,
            finished=ended,
        )
        replies.write(json.dumps(reply) + "\n")
        replies.flush()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.zero_downtime.worker")
    parser.add_argument("--ini", required=True)
    parser.add_argument("--versions")
    parser.add_argument("-x", action="append", default=[])
    args = parser.parse_args()
    # Replies get the real stdout; anything a migration prints lands in stderr.
    replies = os.fdopen(os.dup(sys.stdout.fileno()), "w")
    sys.stdout.flush()
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    _serve(_config(ini=args.ini, versions=args.versions, x_args=args.x), replies)


@dataclass(frozen=True)
class StepTiming:
    """What the child measured for one request (``time.monotonic`` seconds)."""

    command_started: float
    started: float
    finished: float

    @property
    def seconds(self) -> float:
        return self.finished - self.started


class MigrationWorker:
    """The parent's handle on the child: ``upgrade(rev)`` and ``check()``."""

    def __init__(
        self,
        *,
        project: Path,
        ini: Path,
        versions: Path | None,
        env: dict[str, str],
        x_args: list[str],
        log: Path,
    ) -> None:
        argv = [
            sys.executable,
            "-m",
            "benchmarks.zero_downtime.worker",
            "--ini",
            str(ini),
        ]
        if versions is not None:
            argv += ["--versions", str(versions)]
        for x in x_args:
            argv += ["-x", x]
        self.log = log
        self._log_file = log.open("w", encoding="utf-8")
        self._child = subprocess.Popen(
            argv,
            cwd=project,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._log_file,
            text=True,
        )

    def __enter__(self) -> MigrationWorker:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def upgrade(self, target: str) -> StepTiming:
        return self._request({"command": "upgrade", "target": target}, what=target)

    def check(self) -> str | None:
        """``alembic check`` on the database: None when it matches the models."""
        try:
            self._request({"command": "check"}, what="check")
        except MigrationKitError as exc:
            return str(exc)
        return None

    def close(self) -> None:
        if self._child.stdin is not None and not self._child.stdin.closed:
            self._child.stdin.close()
        try:
            self._child.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self._child.kill()
            self._child.wait()
        if self._child.stdout is not None:
            self._child.stdout.close()
        self._log_file.close()

    def _request(self, request: dict[str, str], *, what: str) -> StepTiming:
        assert self._child.stdin is not None
        assert self._child.stdout is not None
        try:
            self._child.stdin.write(json.dumps(request) + "\n")
            self._child.stdin.flush()
        except BrokenPipeError:
            raise MigrationKitError(self._died(what)) from None
        line = self._child.stdout.readline()
        if not line:
            raise MigrationKitError(self._died(what))
        reply = json.loads(line)
        if reply["error"]:
            raise MigrationKitError(
                f"{what}: {reply['error']}\n(full Alembic log: {self.log})"
            )
        return StepTiming(
            command_started=float(reply["command_started"]),
            started=float(reply["started"]),
            finished=float(reply["finished"]),
        )

    def _died(self, what: str) -> str:
        self._log_file.flush()
        tail = self.log.read_text(encoding="utf-8", errors="replace").splitlines()[-15:]
        return (
            f"the migration process exited during {what}; the last lines of its "
            f"log ({self.log}):\n" + "\n".join(tail)
        )


if __name__ == "__main__":
    main()
